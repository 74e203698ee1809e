# The PyTorch side of bench/gpu.ts: ms per training step and peak memory of vanilla, SAM, mSAM as
# a loop over micro-batches, and mSAM with vmap-batched passes (torch.func on 2.x, functorch on
# 1.13), for one model. Each method is timed alone (median of `iters` steps after `warmup`,
# CUDA-synchronized); an error in one method is reported, not raised.
# Usage: python3 gpu.py CONFIG_JSON  -> prints one JSON line {torch, cuda, gpu, vmap, methods: {...}}
import gc
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
device = torch.device(cfg["device"])
cuda = device.type == "cuda"
if cfg.get("threads"):
    torch.set_num_threads(cfg["threads"])
if cuda:
    torch.backends.cuda.matmul.allow_tf32 = cfg["tf32"]
    torch.backends.cudnn.allow_tf32 = cfg["tf32"]
autocast_dtype = torch.bfloat16 if cfg["precision"] == "bf16" else None

# vmap + grad + functional_call: torch.func on 2.x, functorch (with the stateless call) on 1.13.
try:
    from torch.func import functional_call, grad, replace_all_batch_norm_modules_, vmap

    VMAP = "torch.func"
except ImportError:
    try:
        from functorch import grad, vmap
        from functorch.experimental import replace_all_batch_norm_modules_
        from torch.nn.utils.stateless import functional_call

        VMAP = "functorch"
    except ImportError:
        VMAP = None


def resnet50_cifar(num_classes):
    import torchvision

    m = torchvision.models.resnet50(num_classes=num_classes)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    return m


class WideBasic(nn.Module):
    """Pre-activation block of xternalz/WideResNet-pytorch (dropout 0), as models/wide-resnet.ts."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1, self.relu1 = nn.BatchNorm2d(cin), nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.relu2 = nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.equal = cin == cout
        self.shortcut = None if self.equal else nn.Conv2d(cin, cout, 1, stride, 0, bias=False)

    def forward(self, x):
        o = self.relu1(self.bn1(x))
        y = self.conv2(self.relu2(self.bn2(self.conv1(o))))
        return y + (x if self.equal else self.shortcut(o))


def wide_resnet(depth, widen, num_classes):
    n = (depth - 4) // 6
    w = [16, 16 * widen, 32 * widen, 64 * widen]
    layers = [nn.Conv2d(3, w[0], 3, 1, 1, bias=False)]
    for g in range(3):
        for i in range(n):
            layers.append(WideBasic(w[g] if i == 0 else w[g + 1], w[g + 1], (1 if g == 0 else 2) if i == 0 else 1))
    layers += [nn.BatchNorm2d(w[3]), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w[3], num_classes)]
    return nn.Sequential(*layers)


def vit_b16(num_classes, image_size):
    import torchvision

    return torchvision.models.vit_b_16(num_classes=num_classes, image_size=image_size)


def build():
    name, n, s = cfg["model"], cfg["numClasses"], cfg["imageSize"]
    if name == "resnet50":
        return resnet50_cifar(n)
    if name == "wrn28-10":
        return wide_resnet(28, 10, n)
    if name == "vit-b16":
        return vit_b16(n, s)
    raise ValueError(f"unknown model {name}")


def forward_loss(model, x, y):
    if autocast_dtype is None:
        return F.cross_entropy(model(x), y)
    with torch.autocast(device_type=device.type, dtype=autocast_dtype):
        return F.cross_entropy(model(x), y)


def vanilla_step(model, opt, x, y, m, rho):
    opt.zero_grad(set_to_none=True)
    forward_loss(model, x, y).backward()
    opt.step()


def loop_step(model, opt, x, y, m, rho):
    """SAM (m = 1) or mSAM as a loop over m micro-batches, as the public m-SAM code runs it."""
    params = [p for p in model.parameters() if p.requires_grad]
    B = x.shape[0]
    acc = [torch.zeros_like(p) for p in params]
    for xs, ys in zip(x.tensor_split(m), y.tensor_split(m)):
        g = torch.autograd.grad(forward_loss(model, xs, ys), params)
        scale = rho / (torch.norm(torch.stack([gi.norm(2) for gi in g]), 2) + 1e-12)
        e = [gi * scale for gi in g]
        with torch.no_grad():
            for p, ei in zip(params, e):
                p.add_(ei)
        h = torch.autograd.grad(forward_loss(model, xs, ys), params)
        with torch.no_grad():
            for p, ei in zip(params, e):
                p.sub_(ei)
            for a, hi in zip(acc, h):
                a.add_(hi, alpha=xs.shape[0] / B)
    for p, a in zip(params, acc):
        p.grad = a
    opt.step()


def make_vmap_step(model):
    """mSAM with both passes batched over the m shards: per-shard gradients at w (vmap over the data),
    then per-shard gradients at the stacked perturbed weights w + ε_i (vmap over weights and data).
    BatchNorm uses each shard's own statistics (running statistics off, as vmap needs)."""
    replace_all_batch_norm_modules_(model)
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    buffers = {k: b for k, b in model.named_buffers()}

    def loss_fn(params, x, y):
        if autocast_dtype is None:
            out = functional_call(model, (params, buffers) if VMAP == "torch.func" else {**params, **buffers}, (x,))
            return F.cross_entropy(out, y)
        with torch.autocast(device_type=device.type, dtype=autocast_dtype):
            out = functional_call(model, (params, buffers) if VMAP == "torch.func" else {**params, **buffers}, (x,))
            return F.cross_entropy(out, y)

    per_shard_grad = vmap(grad(loss_fn), in_dims=(None, 0, 0), randomness="different")
    per_shard_grad_at = vmap(grad(loss_fn), in_dims=(0, 0, 0), randomness="different")

    def step(model, opt, x, y, m, rho):
        params = dict(model.named_parameters())
        w = {k: params[k].detach() for k in names}
        xs = x.reshape(m, x.shape[0] // m, *x.shape[1:])
        ys = y.reshape(m, y.shape[0] // m)
        g = per_shard_grad(w, xs, ys)
        norms = torch.sqrt(sum(g[k].flatten(1).float().pow(2).sum(1) for k in names))  # [m]
        scale = rho / (norms + 1e-12)
        pert = {k: w[k].unsqueeze(0) + g[k] * scale.view(-1, *([1] * w[k].dim())) for k in names}
        del g
        h = per_shard_grad_at(pert, xs, ys)
        for k in names:
            params[k].grad = h[k].mean(0)
        opt.step()

    return step


def measure(method):
    torch.manual_seed(0)
    model = build().to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    B, m, rho = cfg["batch"], cfg["m"], cfg["rho"]
    x = torch.randn(B, 3, cfg["imageSize"], cfg["imageSize"], device=device)
    y = torch.randint(0, cfg["numClasses"], (B,), device=device)
    if method == "vanilla":
        step, mm = vanilla_step, 1
    elif method == "sam":
        step, mm = loop_step, 1
    elif method == "loop":
        step, mm = loop_step, m
    else:
        if VMAP is None:
            raise RuntimeError("unavailable: neither torch.func nor functorch imports")
        if B % m:
            raise RuntimeError(f"the batch {B} must be divisible by m = {m} for the vmap-batched step")
        step, mm = make_vmap_step(model), m
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    for _ in range(cfg["warmup"]):
        step(model, opt, x, y, mm, rho)
    times = []
    for _ in range(cfg["iters"]):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step(model, opt, x, y, mm, rho)
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"ms": statistics.median(times), "peakBytes": torch.cuda.max_memory_allocated() if cuda else None}


out = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": None, "vmap": VMAP, "methods": {}}
if cuda:
    out["gpu"] = torch.cuda.get_device_name(device)  # fails clearly when CUDA is not there
for method in cfg["methods"]:
    try:
        out["methods"][method] = measure(method)
    except Exception as e:  # reported, so that one failing method does not hide the others
        out["methods"][method] = {"error": f"{type(e).__name__}: {e}".splitlines()[0][:400]}
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    print(f"PyTorch {cfg['model']} {method}: {out['methods'][method]}", file=sys.stderr, flush=True)
print(json.dumps(out))
