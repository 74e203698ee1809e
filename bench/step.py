# The Python side of bench/step.ts: time per training step of vanilla, SAM and mSAM with PyTorch,
# mSAM as the public m-SAM code runs it (a sequential loop over micro-batches).
# Usage: python3 step.py CONFIG_JSON  -> prints one JSON line {key: ms per step}
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
device = torch.device(cfg["device"])


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 10))


def resnet18_cifar():
    import torchvision
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    return m


def mlp():
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


MODELS = {"cnn": (small_cnn, (1, 28, 28)), "resnet18": (resnet18_cifar, (3, 32, 32)), "mlp": (mlp, (784,))}


def msam_step(model, opt, x, y, m, rho):
    params = [p for p in model.parameters() if p.requires_grad]
    if rho == 0:  # vanilla
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        return
    B = x.shape[0]
    acc = [torch.zeros_like(p) for p in params]
    for xs, ys in zip(x.tensor_split(m), y.tensor_split(m)):
        g = torch.autograd.grad(F.cross_entropy(model(xs), ys), params)
        norm = torch.norm(torch.stack([gi.norm(2) for gi in g]), 2)
        scale = rho / (norm + 1e-12)
        e = [gi * scale for gi in g]
        with torch.no_grad():
            for p, ei in zip(params, e):
                p.add_(ei)
        h = torch.autograd.grad(F.cross_entropy(model(xs), ys), params)
        with torch.no_grad():
            for p, ei in zip(params, e):
                p.sub_(ei)
            for a, hi in zip(acc, h):
                a.add_(hi, alpha=xs.shape[0] / B)
    for p, a in zip(params, acc):
        p.grad = a
    opt.step()


out = {}
for case in cfg["cases"]:
    make, shape = MODELS[case["model"]]
    torch.manual_seed(0)
    model = make().to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(case["batch"], *shape, device=device)
    y = torch.randint(0, 10, (case["batch"],), device=device)
    for _ in range(cfg["warmup"]):
        msam_step(model, opt, x, y, case["m"], case["rho"])
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(cfg["steps"]):
        msam_step(model, opt, x, y, case["m"], case["rho"])
    if device.type == "cuda":
        torch.cuda.synchronize()
    out[case["key"]] = (time.perf_counter() - t0) / cfg["steps"] * 1e3
print(json.dumps({"torch": torch.__version__, "msPerStep": out}))
