#!/usr/bin/env python3
"""A straightforward PyTorch implementation of ClDiffusion's `ei` and `rm` samplers on a K-component Gaussian
mixture with its exact score (DESIGN 1.2, 1.3), timed on CUDA, to set beside `cldiff bench` in the same call.

Same algorithm, grid (shrinking, T = 8, delta = 1e-3), step count and sizes as `cldiff bench --samplers ei,rm
--n N --steps S --dims D`; the mixture parameters are random (K = 5, means ~ 2 N(0, 1), variances in [0.15, 0.5]),
which costs the same as cldiff's preset. fp32, TF32 off; CUDA events around a whole sampling run, median of --runs.

    python3 tools/gpu/torch_sampler_bench.py --n 8192 --steps 20 --dims 64,1024
"""
import argparse
import math
import statistics

import torch


def shrinking_grid(T, delta, steps):
    psi = lambda t: t if t >= 1 else 1 + math.log(t)
    inv = lambda p: p if p >= 1 else math.exp(p - 1)
    a, b = psi(T), psi(delta)
    tau = [T - inv(a + (b - a) * i / steps) for i in range(steps + 1)]
    tau[0], tau[-1] = 0.0, T - delta
    return tau


def make_score(w, mu, var):
    logw = torch.log(w)

    def score(x, t):  # t: scalar or [n] forward times
        t = torch.as_tensor(t, device=x.device, dtype=x.dtype).reshape(-1, 1, 1)
        a = torch.exp(-t)
        vt = a * a * var[None] - torch.expm1(-2 * t)             # [n|1, K, d]
        diff = a * mu[None] - x[:, None, :]                       # [n, K, d]
        logp = logw[None] - 0.5 * (diff * diff / vt + torch.log(vt)).sum(-1)
        r = torch.softmax(logp, dim=1)                            # [n, K]
        return (r[:, :, None] * diff / vt).sum(1)
    return score


def ei(x, score, tau, T):
    for n in range(len(tau) - 1):
        h = tau[n + 1] - tau[n]
        x = math.exp(h) * x + math.expm1(h) * score(x, T - tau[n])
    return x


def rm(x, score, tau, T):
    for n in range(len(tau) - 1):
        h = tau[n + 1] - tau[n]
        alpha = torch.rand(x.shape[0], 1, device=x.device)
        e = torch.exp(alpha * h)
        s = score(x, T - tau[n])
        xm = e * x + (e - 1) * s
        sm = score(xm, (T - tau[n]) - alpha[:, 0] * h)
        x = math.exp(h) * x + h * torch.exp((1 - alpha) * h) * sm
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=8192)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--dims", default="64,1024")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    assert torch.cuda.is_available(), "needs a CUDA device"
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(dev)}, torch {torch.__version__}, fp32")
    print(f"{'sampler':<8} {'d':>6} {'NFE':>5} {'torch samples/s':>16}")
    T, delta, K = 8.0, 1e-3, 5
    tau = shrinking_grid(T, delta, args.steps)
    for d in (int(v) for v in args.dims.split(",")):
        g = torch.Generator(device=dev).manual_seed(7)
        w = torch.rand(K, device=dev, generator=g) + 0.5
        w = w / w.sum()
        mu = 2 * torch.randn(K, d, device=dev, generator=g)
        var = 0.15 + 0.35 * torch.rand(K, d, device=dev, generator=g)
        score = make_score(w, mu, var)
        for name, fn, nfe in (("ei", ei, args.steps), ("rm", rm, 2 * args.steps)):
            times = []
            with torch.no_grad():
                for r in range(args.runs + 1):
                    x = torch.randn(args.n, d, device=dev)
                    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    a.record()
                    x = fn(x, score, tau, T)
                    b.record()
                    b.synchronize()
                    assert torch.isfinite(x).all()
                    if r > 0:
                        times.append(a.elapsed_time(b) / 1e3)
            print(f"{name:<8} {d:>6} {nfe:>5} {args.n / statistics.median(times):>16.0f}")


if __name__ == "__main__":
    main()
