#!/usr/bin/env python3
"""PyTorch CPU reference timing for the forward of a cldiffusion MLP file (e.g. the Fashion-MNIST score model).

Reads the layer shapes and weights of a cldiffusion-mlp .safetensors (docs/MLP.md) and times one forward of the
same network in PyTorch fp32 on the CPU: time features concat(x normalised, sin(t f), cos(t f)), Linear + SiLU per
hidden layer with the class embedding added after the first, the last Linear. FLOPs counted as cldiff mlpbench counts
them: 2 * rows * in * out per Linear (the embedding, features and SiLU are not counted). Medians of --reps calls after
--warmup, torch.set_num_threads(--threads). Run with the system python that has torch (Debian python3-torch):

    /usr/bin/python3 tools/fashion/torch_mlp_cpu.py models/fashion.safetensors --batches 1024,4096 --threads 2
"""
import argparse
import json
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn.functional as Fn


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        blob = f.read()
    dt = {"F16": np.float16, "F32": np.float32}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(blob[a:b], dtype=dt[v["dtype"]]).astype(np.float32).reshape(v["shape"]))
    return out, header.get("__metadata__", {})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--batches", default="1024,4096")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    w, meta = load(a.model)
    layers = sorted({int(k.split(".")[1]) for k in w if k.startswith("net.")})
    lin = [(w[f"net.{i}.weight"], w[f"net.{i}.bias"]) for i in layers]
    emb = w.get("class_embed.weight")
    freqs = w["time_freqs"]
    mean, std = w.get("data_mean"), w.get("data_std")
    d = lin[-1][0].shape[0]
    shapes = [tuple(W.shape[::-1]) for W, _ in lin]
    print(f"# torch {torch.__version__} fp32 on CPU, {torch.get_num_threads()} threads; {a.model}: layers "
          + ", ".join(f"{i}x{o}" for i, o in shapes) + f"; classes {0 if emb is None else emb.shape[0] - 1}")

    def forward(x, t, c):
        h = (x - mean) / std if mean is not None else x
        tf = t[:, None] * freqs[None, :]
        h = torch.cat([h, torch.sin(tf), torch.cos(tf)], 1)
        for j, (W, b) in enumerate(lin):
            h = Fn.linear(h, W, b)
            if j == 0 and emb is not None:
                h = h + emb[c]
            if j < len(lin) - 1:
                h = Fn.silu(h)
        return h

    for rows in [int(v) for v in a.batches.split(",")]:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(rows, d, generator=g) * 80 + 70
        t = torch.rand(rows, generator=g) * 8
        c = torch.randint(0, 10, (rows,), generator=g)
        with torch.inference_mode():
            for _ in range(a.warmup):
                forward(x, t, c)
            times = []
            for _ in range(a.reps):
                s = time.perf_counter()
                forward(x, t, c)
                times.append(time.perf_counter() - s)
        ms = 1e3 * statistics.median(times)
        flops = sum(2.0 * rows * i * o for i, o in shapes)
        print(f"torch-cpu rows {rows}: {ms:.1f} ms (median of {a.reps}), {flops / ms / 1e6:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
