#!/usr/bin/env python3
"""Trains a small class-conditional U-Net on Fashion-MNIST in DDPM's convention and exports it as ONNX.

    /usr/bin/python3 tools/fashion/train_unet.py [--steps 3000] [--batch 128] [--out models/fashion-unet.onnx]
        [--checkpoint /tmp/fashion-unet.pt] [--resume] [--export-only] [--no-clip] [--threads 1] [--seed 0]

The shipped models/fashion-unet.onnx (docs/EXPERIMENTS.md has its time and final loss; the file's metadata
cldiffusion.train the command):
    /usr/bin/python3 tools/fashion/train_unet.py --steps 2200 --batch 64
then, from the final checkpoint, the same command with --export-only (the export of a finished run is the same).

CPU PyTorch (Debian's python3-torch 1.13 is enough). One thread by default: the machine it was trained on is a
shared 2-core VM. Deterministic for a given seed, thread count and number of steps (torch.use_deterministic_algorithms).

DDPM's convention: 1000 steps of linear betas 1e-4 .. 0.02, x_n = sqrt(abar_n) x0 + sqrt(1 - abar_n) eps, the
network predicts eps from (x_n, n, class); n is drawn uniformly from 0 .. 999 and given to the network as a float
(the sampler asks for fractional timesteps between the integers; the sinusoidal embedding is smooth in n).

Pixels: x0 = byte / 127.5 - 1 in [-1, 1] (0 = background -> -1). The fashion classifier (models/fashion-classifier.onnx,
tools/fashion/train_classifier.py) reads byte / 255, so a sample x is shown to it as (x + 1) / 2.

Classes: labels 0..9 (Fashion-MNIST's order) and the null class 10 (the unconditional model, for classifier-free
guidance): during training each label is replaced by 10 with probability --drop (0.1).

The network (464,529 parameters with the default --channels 16,32,64): 28x28 -> conv 3x3 to 16 channels; a residual
block at 28 (16), down to 14 (32) with a residual block, down to 7 (64) with a residual block, two residual blocks at
7; the mirror path up with skip concatenations; GroupNorm(8) + SiLU + conv 3x3 out to 1 channel. Each residual block
adds a projection of the embedding (sinusoidal embedding of n, 64 frequencies, through a 2-layer MLP, plus a learned
class embedding of 11 entries). Adam, learning rate 2e-3 with 200 warmup steps and a cosine decay to 1e-4 of it;
an exponential moving average of the weights (decay 0.999, ramped up over the first steps) is what is exported.

The ONNX graph: inputs x [B, 784] float32 (the 28x28 image row-major in the [-1, 1] scaling, B dynamic),
t [B] float32 (the DDPM timestep n, fractional allowed), class [B] int64 (0..9, or 10 for the null class); output
eps [B, 784] float32. Metadata: cldiffusion.prediction = eps, cldiffusion.convention = vp-linear:1000,
cldiffusion.classes = 10 (the number of classes), cldiffusion.null_class = 10 (the index the graph takes for no
class; the library passes it for its null label -1), cldiffusion.class_names, cldiffusion.input = pixel/127.5-1,
cldiffusion.image = 28x28, cldiffusion.train (the command), cldiffusion.final_loss, cldiffusion.x0_clip. The graph
clips the x0 its eps implies to [-1, 1] and returns the eps of the clipped x0 (ClippedEps below; --no-clip exports the
network's eps as it is).
"""
import argparse
import io
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "onnx"))
from export_models import with_metadata  # noqa: E402  (appends ONNX metadata without the onnx package)
from fashion_idx import read_idx  # noqa: E402  (the gzip IDX reader both training scripts use)

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
K = len(CLASSES)
NULL = K
N_STEPS = 1000


def load(data_dir, split):
    x = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz")).reshape(-1, 784).float() / 127.5 - 1
    y = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz")).long()
    return x, y


def alphabar_linear(n=N_STEPS, b1=1e-4, bn=0.02):
    betas = torch.tensor([b1 + (bn - b1) * i / (n - 1) for i in range(n)], dtype=torch.float64)
    return torch.cumprod(1 - betas, 0)


class ResBlock(torch.nn.Module):
    def __init__(self, cin, cout, emb):
        super().__init__()
        self.n1 = torch.nn.GroupNorm(8, cin)
        self.c1 = torch.nn.Conv2d(cin, cout, 3, padding=1)
        self.e = torch.nn.Linear(emb, cout)
        self.n2 = torch.nn.GroupNorm(8, cout)
        self.c2 = torch.nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = torch.nn.Conv2d(cin, cout, 1) if cin != cout else torch.nn.Identity()

    def forward(self, h, emb):
        y = self.c1(F.silu(self.n1(h)))
        y = y + self.e(emb)[:, :, None, None]
        y = self.c2(F.silu(self.n2(y)))
        return self.skip(h) + y


class UNet(torch.nn.Module):
    def __init__(self, ch=(16, 32, 64), emb=128, freqs=64):
        super().__init__()
        c1, c2, c3 = ch
        self.register_buffer("freqs", torch.exp(-math.log(10000.0) * torch.arange(freqs, dtype=torch.float32) / freqs))
        self.t_mlp = torch.nn.Sequential(torch.nn.Linear(2 * freqs, emb), torch.nn.SiLU(), torch.nn.Linear(emb, emb))
        self.c_emb = torch.nn.Embedding(K + 1, emb)
        self.inp = torch.nn.Conv2d(1, c1, 3, padding=1)
        self.d1 = ResBlock(c1, c1, emb)                      # 28
        self.down1 = torch.nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.d2 = ResBlock(c2, c2, emb)                      # 14
        self.down2 = torch.nn.Conv2d(c2, c3, 3, stride=2, padding=1)
        self.d3 = ResBlock(c3, c3, emb)                      # 7
        self.m = ResBlock(c3, c3, emb)
        self.u3 = ResBlock(2 * c3, c3, emb)                  # 7, skip d3
        self.up2 = torch.nn.ConvTranspose2d(c3, c2, 4, stride=2, padding=1)
        self.u2 = ResBlock(2 * c2, c2, emb)                  # 14, skip d2
        self.up1 = torch.nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)
        self.u1 = ResBlock(2 * c1, c1, emb)                  # 28, skip d1
        self.out_n = torch.nn.GroupNorm(8, c1)
        self.out = torch.nn.Conv2d(c1, 1, 3, padding=1)

    def forward(self, x, t, c):
        arg = t[:, None] * self.freqs[None, :]
        e = self.t_mlp(torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)) + self.c_emb(c)
        h = self.inp(x.reshape(-1, 1, 28, 28))
        h1 = self.d1(h, e)
        h2 = self.d2(self.down1(h1), e)
        h3 = self.d3(self.down2(h2), e)
        h = self.m(h3, e)
        h = self.u3(torch.cat([h, h3], 1), e)
        h = self.u2(torch.cat([self.up2(h), h2], 1), e)
        h = self.u1(torch.cat([self.up1(h), h1], 1), e)
        return self.out(F.silu(self.out_n(h))).reshape(-1, 784)


class ClippedEps(torch.nn.Module):
    """The exported graph: the network's eps, with the clean image it implies clipped to the data's range [-1, 1]
    and the eps consistent with the clipped image returned (DDPM's clip_sample, the default of diffusers'
    DDPMScheduler and DDIMScheduler). The network is trained on eps alone; the clip is a prior (pixels lie in
    [-1, 1]) that keeps a sample inside the data's range. Without it, the x0 = (x - sqrt(1 - abar) eps) / sqrt(abar)
    a sampler forms at the first timesteps amplifies the network's eps error by 1 / sqrt(abar_999) = 156: with this
    short training, DDIM at 20 steps left 24 of 40 samples with pixels beyond 1.5 unclipped, none clipped.
    The fractional timestep n gives sigma by the library's interpolation (log sigma linear between integer steps,
    docs/MODELS.md "Discrete VP"), so the graph's alpha and sigma are those of the sampler's time."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        ab = alphabar_linear()
        self.register_buffer("log_sigma", (0.5 * torch.log((1 - ab) / ab)).float())

    def forward(self, x, t, c):
        eps = self.net(x, t, c)
        n = torch.clamp(t, 0.0, float(N_STEPS - 1))
        lo = torch.clamp(torch.floor(n), 0.0, float(N_STEPS - 2))
        w = n - lo
        i = lo.to(torch.int64)
        ls = (1 - w) * self.log_sigma[i] + w * self.log_sigma[i + 1]
        sve2 = torch.exp(2 * ls)[:, None]                # (1 - abar) / abar
        a = torch.rsqrt(1 + sve2)                         # sqrt(abar)
        s = torch.sqrt(sve2) * a                          # sqrt(1 - abar)
        x0 = torch.clamp((x - s * eps) / a, -1.0, 1.0)
        return (x - a * x0) / s


def lr_at(step, total, lr, warmup=200):
    if step < warmup:
        return lr * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return lr * (1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def command(a):
    return "/usr/bin/python3 tools/fashion/train_unet.py" + "".join(
        f" --{k} {getattr(a, k)}" for k in ["steps", "batch", "lr", "drop", "seed", "threads", "channels"])


def export(ema, a, loss, seconds, out):
    ema.eval()
    graph = ema if a.no_clip else ClippedEps(ema)
    buf = io.BytesIO()
    b = 3
    ex = (torch.zeros(b, 784), torch.full((b,), 500.0), torch.tensor([0, 3, NULL], dtype=torch.int64))
    torch.onnx.export(graph, ex, buf, input_names=["x", "t", "class"], output_names=["eps"],
                      dynamic_axes={"x": {0: "batch"}, "t": {0: "batch"}, "class": {0: "batch"}, "eps": {0: "batch"}},
                      opset_version=13, do_constant_folding=True)
    props = {
        "cldiffusion.prediction": "eps",
        "cldiffusion.convention": f"vp-linear:{N_STEPS}",
        "cldiffusion.classes": str(K),
        "cldiffusion.null_class": str(NULL),
        "cldiffusion.class_names": ",".join(CLASSES),
        "cldiffusion.input": "pixel/127.5-1",
        "cldiffusion.image": "28x28",
        "cldiffusion.train": command(a),
        "cldiffusion.x0_clip": "none" if a.no_clip else "-1,1 (the implied x0 is clipped, eps recomputed from it)",
        "cldiffusion.final_loss": f"{loss:.5f}",
        "cldiffusion.train_seconds": f"{seconds:.0f}",
    }
    data = with_metadata(buf.getvalue(), props)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out)
    n_params = sum(p.numel() for p in ema.parameters())
    print(f"wrote {out} ({len(data)} bytes, {n_params} parameters, loss {loss:.5f})", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models/fashion-unet.onnx")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--drop", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--channels", default="16,32,64", help="channels at 28, 14 and 7 pixels")
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--checkpoint", default="/tmp/fashion-unet.pt")
    ap.add_argument("--every", type=int, default=250, help="checkpoint (and export) every this many steps")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export-only", action="store_true", help="export the EMA weights of --checkpoint and stop")
    ap.add_argument("--no-clip", action="store_true", help="export the network's eps as it is (no x0 clip to [-1, 1])")
    ap.add_argument("--time-steps", type=int, default=0, help="time this many steps, print s/step and stop")
    a = ap.parse_args()
    if not 1 <= a.threads <= 2:
        raise SystemExit("--threads: 1 or 2 (a small job on a shared machine)")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)

    ch = tuple(int(c) for c in a.channels.split(","))
    net = UNet(ch)
    ema = UNet(ch)
    ema.load_state_dict(net.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    step, losses, seconds = 0, [], 0.0
    if a.resume or a.export_only:
        ck = torch.load(a.checkpoint)
        net.load_state_dict(ck["net"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        step, losses, seconds = ck["step"], ck["losses"], ck["seconds"]
        torch.set_rng_state(ck["rng"])
        print(f"resumed {a.checkpoint} at step {step}", flush=True)
    if a.export_only:
        export(ema, a, sum(losses[-200:]) / max(1, len(losses[-200:])), seconds, a.out)
        return

    print(f"{sum(p.numel() for p in net.parameters())} parameters, {a.threads} thread(s)", flush=True)
    xtr, ytr = load(a.data, "train")
    ab = alphabar_linear()
    sa, sb = ab.sqrt().float(), (1 - ab).sqrt().float()
    gen = torch.Generator().manual_seed(a.seed + 1000 * step)   # a resume continues with a fresh stream
    t0 = time.time() - seconds
    tlog = time.time()
    while step < a.steps:
        idx = torch.randint(0, len(xtr), (a.batch,), generator=gen)
        x0, y = xtr[idx], ytr[idx].clone()
        y[torch.rand(a.batch, generator=gen) < a.drop] = NULL
        n = torch.randint(0, N_STEPS, (a.batch,), generator=gen)
        eps = torch.randn(a.batch, 784, generator=gen)
        xn = sa[n][:, None] * x0 + sb[n][:, None] * eps
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a.steps, a.lr)
        loss = F.mse_loss(net(xn, n.float(), y), eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        d = min(a.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.mul_(d).add_(p, alpha=1 - d)
        losses.append(loss.item())
        step += 1
        if a.time_steps and step >= a.time_steps:
            print(f"{(time.time() - tlog) / step:.3f} s/step at batch {a.batch}", flush=True)
            return
        if step % 50 == 0:
            print(f"step {step}/{a.steps}: loss {sum(losses[-50:]) / 50:.5f}, lr {lr_at(step, a.steps, a.lr):.2e}, "
                  f"{time.time() - t0:.0f} s", flush=True)
        if step % a.every == 0 or step == a.steps:
            seconds = time.time() - t0
            torch.save({"net": net.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step,
                        "losses": losses, "seconds": seconds, "rng": torch.get_rng_state()}, a.checkpoint + ".tmp")
            os.replace(a.checkpoint + ".tmp", a.checkpoint)
            export(ema, a, sum(losses[-200:]) / len(losses[-200:]), seconds, a.out)
    print(f"done: {step} steps, {time.time() - t0:.0f} s, final loss (mean of the last 200 steps) "
          f"{sum(losses[-200:]) / len(losses[-200:]):.5f}", flush=True)


if __name__ == "__main__":
    main()
