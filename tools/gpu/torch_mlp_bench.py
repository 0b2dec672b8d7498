#!/usr/bin/env python3
"""PyTorch reference timing for the MLP score forward (the shapes of ClDiffusion's MlpBench).

Network (docs/MLP.md, depth 3): input concat(y, sin(t f), cos(t f)) with d = 2 and F = 16 frequencies (width 34),
Linear(34, w) SiLU, Linear(w, w) SiLU, Linear(w, w) SiLU, Linear(w, 2), then the eps-to-score conversion
-out / sigma_t with sigma_t^2 = 1 - exp(-2 t), every row with its own time. fp32 with TF32 off (cuBLAS SGEMM).
FLOPs counted as in MlpBench: 2 * rows * in * out per Linear. Timing: CUDA events around one forward
(no autograd), `--reps` repetitions after `--warmup`, the median printed.

    python3 tools/gpu/torch_mlp_bench.py --widths 256,512,1024 --batches 1024,4096,16384,65536
"""
import argparse
import math
import statistics

import torch
import torch.nn as nn

D, F, DEPTH = 2, 16, 3


def build(width: int, device) -> nn.Sequential:
    layers, inw = [], D + 2 * F
    for _ in range(DEPTH):
        layers += [nn.Linear(inw, width), nn.SiLU()]
        inw = width
    layers.append(nn.Linear(inw, D))
    return nn.Sequential(*layers).to(device=device, dtype=torch.float32).eval()


def flops(width: int, rows: int) -> float:
    shapes = [(D + 2 * F, width)] + [(width, width)] * (DEPTH - 1) + [(width, D)]
    return sum(2.0 * rows * i * o for i, o in shapes)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", default="256,512,1024")
    ap.add_argument("--batches", default="1024,4096,16384,65536")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()

    assert torch.cuda.is_available(), "needs a CUDA device"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(dev)}, torch {torch.__version__}, CUDA {torch.version.cuda}, fp32, TF32 off")
    freqs = torch.logspace(math.log10(0.1), math.log10(50.0), F, device=dev)
    print(f"{'width':>6} {'batch':>7} {'ms':>10} {'GFLOP/s':>9}")
    g = torch.Generator(device=dev).manual_seed(1)
    for w in (int(v) for v in args.widths.split(",")):
        torch.manual_seed(17)
        net = build(w, dev)
        for n in (int(v) for v in args.batches.split(",")):
            y = torch.randn(n, D, device=dev, generator=g)
            t = 0.01 + 7.99 * torch.arange(n, device=dev, dtype=torch.float32) / n

            def score():
                arg = t[:, None] * freqs[None, :]
                out = net(torch.cat([y, torch.sin(arg), torch.cos(arg)], dim=1))
                return out * (-torch.rsqrt(-torch.expm1(-2.0 * t)))[:, None]

            times = []
            with torch.no_grad():
                for _ in range(args.warmup):
                    score()
                torch.cuda.synchronize()
                for _ in range(args.reps):
                    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    a.record()
                    score()
                    b.record()
                    b.synchronize()
                    times.append(a.elapsed_time(b))
            ms = statistics.median(times)
            print(f"{w:6d} {n:7d} {ms:10.3f} {flops(w, n) / ms / 1e6:9.1f}")


if __name__ == "__main__":
    main()
