# The Python side of bench/overhead.ts: per-call time of the same ops, called from Python.
# Usage: python3 overhead.py THREADS  -> prints one JSON line {op: microseconds per call}
import json
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)

CASES = {
    "add 1-element": (lambda: (torch.ones(1), torch.ones(1)), lambda a, b: torch.add(a, b), 20000),
    "matmul 256x256": (lambda: (torch.randn(256, 256), torch.randn(256, 256)), lambda a, b: torch.matmul(a, b), 400),
    "conv2d 16x32x32 3x3": (
        lambda: (torch.randn(1, 16, 32, 32), torch.randn(16, 16, 3, 3)),
        lambda x, w: torch.conv2d(x, w, None, 1, 1),
        400,
    ),
}

out = {}
with torch.no_grad():
    for name, (make, fn, n) in CASES.items():
        a, b = make()
        for _ in range(n // 10):
            fn(a, b)
        t0 = time.perf_counter()
        for _ in range(n):
            fn(a, b)
        out[name] = (time.perf_counter() - t0) / n * 1e6
print(json.dumps({"torch": torch.__version__, "perCallUs": out}))
