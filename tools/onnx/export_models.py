#!/usr/bin/env python3
"""Exports the ONNX test models of docs/MODELS.md with PyTorch (Debian's python3-torch 1.13 is enough).

    /usr/bin/python3 tools/onnx/export_models.py OUT_DIR [models/checkerboard.safetensors]

Writes, each with inputs x [B, d] and t [B] (float32, B dynamic), one output [B, d], and the metadata keys
cldiffusion.prediction and cldiffusion.convention:
  checkerboard.onnx      the shipped checkerboard MLP (eps; the same network as the .safetensors file,
                         read here without the safetensors package), in the model's normalised space
  gauss-ours.onnx        exact score of N(MU, diag(VAR)) at forward time t of this project (prediction score)
  gauss-vp-linear.onnx   exact eps of the same Gaussian at DDPM timestep n (linear betas 1e-4..0.02, N = 1000)
  gauss-vp-cosine.onnx   exact v of the same Gaussian at a cosine-schedule timestep n (N = 1000)
  gauss-edm.onnx         exact EDM denoiser D(x, sigma) = E[x0 | x0 + sigma eps = x] (prediction x0)
  gmm-labelled.onnx      exact eps of a labelled 3-d mixture (5 components in 3 classes) at forward time t of this
                         project, class-conditional: a third input class [B] int64 (0..2, 3 = the null class: the
                         whole mixture; metadata cldiffusion.classes = 3, cldiffusion.null_class = 3)
and six malformed models (bad-*.onnx) that the loader must refuse. The Gaussian models compute their schedules from the betas themselves (float64, then float32 tables), so a
wrong time mapping on the .NET side shows up as wrong samples. tests/ClDiffusion.Tests/Onnx checks all five.
"""
import json
import math
import struct
import sys

import torch

MU = [1.0, -2.0, 0.5]
VAR = [0.25, 1.0, 2.0]
OPSET = 13


# ---------- the shipped MLP ----------------------------------------------------------------------------
def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, h in header.items():
        if h["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} is {h['dtype']}; this script reads F32 files")
        a, b = h["data_offsets"]
        buf = bytearray(raw[8 + n + a:8 + n + b])
        tensors[name] = torch.frombuffer(buf, dtype=torch.float32).reshape(h["shape"]).clone()
    return meta, tensors


class Mlp(torch.nn.Module):
    """docs/MLP.md: input concat(y, sin(t f), cos(t f)); Linear + SiLU ...; Linear."""

    def __init__(self, tensors):
        super().__init__()
        self.register_buffer("freqs", tensors["time_freqs"])
        layers = []
        i = 0
        while f"net.{i}.weight" in tensors:
            w = tensors[f"net.{i}.weight"]
            lin = torch.nn.Linear(w.shape[1], w.shape[0])
            lin.weight.data.copy_(w)
            lin.bias.data.copy_(tensors[f"net.{i}.bias"])
            layers.append(lin)
            i += 2
        self.layers = torch.nn.ModuleList(layers)

    def forward(self, x, t):
        arg = t[:, None] * self.freqs[None, :]
        h = torch.cat([x, torch.sin(arg), torch.cos(arg)], dim=1)
        for k, lin in enumerate(self.layers):
            h = lin(h)
            if k < len(self.layers) - 1:
                h = torch.nn.functional.silu(h)
        return h


# ---------- exact Gaussian models ----------------------------------------------------------------------
class GaussOurs(torch.nn.Module):
    """score of q_t = N(e^-t MU, e^-2t VAR + 1 - e^-2t) at forward time t."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mu", torch.tensor(MU))
        self.register_buffer("var", torch.tensor(VAR))

    def forward(self, x, t):
        a = torch.exp(-t)[:, None]
        s2 = 1 - a * a
        return -(x - a * self.mu) / (a * a * self.var + s2)


def alphabar(betas):
    out, ab = [], 1.0
    for b in betas:
        ab *= 1 - b
        out.append(ab)
    return out


def linear_betas(n=1000, b1=1e-4, bn=0.02):
    return [b1 + (bn - b1) * i / (n - 1) for i in range(n)]


def cosine_betas(n=1000, s=0.008):
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return [min(1 - f((i + 1) / n) / f(i / n), 0.999) for i in range(n)]


class GaussVp(torch.nn.Module):
    """DDPM timestep n (fractional: log sigma_n interpolated linearly); predicts eps or v."""

    def __init__(self, betas, prediction):
        super().__init__()
        ab = alphabar(betas)
        self.register_buffer("log_sigma", torch.tensor([0.5 * math.log((1 - a) / a) for a in ab], dtype=torch.float32))
        self.register_buffer("mu", torch.tensor(MU))
        self.register_buffer("var", torch.tensor(VAR))
        self.last = len(ab) - 1
        self.prediction = prediction

    def forward(self, x, n):
        n = torch.clamp(n, 0.0, float(self.last))
        lo = torch.clamp(torch.floor(n), 0.0, float(self.last - 1))
        w = n - lo
        i = lo.to(torch.int64)
        ls = (1 - w) * self.log_sigma[i] + w * self.log_sigma[i + 1]
        sve2 = torch.exp(2 * ls)[:, None]             # sigma_ve^2 = (1 - ab) / ab
        a = torch.rsqrt(1 + sve2)                       # sqrt(ab)
        s = torch.sqrt(sve2) * a                        # sqrt(1 - ab)
        score = -(x - a * self.mu) / (a * a * self.var + s * s)
        eps = -s * score
        if self.prediction == "eps":
            return eps
        x0 = (x - s * eps) / a
        return a * eps - s * x0                         # v


class GaussEdm(torch.nn.Module):
    """EDM denoiser: E[x0 | x0 + sigma eps = x] = MU + VAR / (VAR + sigma^2) (x - MU)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mu", torch.tensor(MU))
        self.register_buffer("var", torch.tensor(VAR))

    def forward(self, x, sigma):
        s2 = (sigma * sigma)[:, None]
        return self.mu + self.var / (self.var + s2) * (x - self.mu)


# ---------- exact labelled mixture (class-conditional) ---------------------------------------------------
GMM_W = [0.15, 0.25, 0.2, 0.3, 0.1]
GMM_MEANS = [[2.0, 0.0, -1.0], [1.5, 2.0, 0.5], [-2.0, 1.0, 1.0], [0.0, -2.0, -1.5], [-1.0, -1.0, 2.0]]
GMM_VARS = [[0.3, 0.5, 0.4], [0.6, 0.2, 0.5], [0.4, 0.4, 0.8], [0.5, 0.7, 0.3], [0.2, 0.3, 0.6]]
GMM_LABELS = [0, 0, 1, 2, 2]
GMM_CLASSES = 3


class GmmLabelled(torch.nn.Module):
    """eps = -sigma_t s_t(x | c) of the labelled mixture at forward time t: s(x | c) is the score of the mixture of
    class c's components, renormalised; class 3 (the null class) is the whole mixture. Row 4 of the weight table
    (only component 0) is a decoy: a graph given -1 instead of the null index would gather it (ONNX Gather counts
    negative indices from the end) and give wrong scores."""

    def __init__(self):
        super().__init__()
        k = len(GMM_W)
        rows = []
        for c in range(GMM_CLASSES + 1):
            rows.append([math.log(w) if c == GMM_CLASSES or GMM_LABELS[i] == c else -1e30 for i, w in enumerate(GMM_W)])
        rows.append([0.0] + [-1e30] * (k - 1))
        self.register_buffer("logw", torch.tensor(rows, dtype=torch.float32))
        self.register_buffer("mu", torch.tensor(GMM_MEANS))
        self.register_buffer("var", torch.tensor(GMM_VARS))

    def forward(self, x, t, c):
        a = torch.exp(-t)[:, None, None]                       # [B, 1, 1]
        s2 = 1 - a * a                                          # 1 - a^2 (no expm1 in opset 13)
        v = a * a * self.var[None] + s2                         # [B, K, d]
        diff = x[:, None, :] - a * self.mu[None]                # [B, K, d]
        logp = -0.5 * (diff * diff / v + torch.log(v)).sum(2) + self.logw[c]   # [B, K]
        resp = torch.softmax(logp, dim=1)
        score = -(resp[:, :, None] * diff / v).sum(1)
        return -torch.sqrt(s2[:, :, 0]) * score


class FloatClass(torch.nn.Module):
    """A malformed model for the load checks: the class input is float32."""

    def forward(self, x, t, c):
        return -x * t[:, None] + c[:, None]


# ---------- export -------------------------------------------------------------------------------------
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def with_metadata(model_bytes, props):
    """Appends ModelProto.metadata_props (field 14) entries: protobuf merges repeated fields on concatenation,
    so no onnx package is needed."""
    out = bytearray(model_bytes)
    for k, v in props.items():
        kb, vb = k.encode(), v.encode()
        entry = b"\x0a" + varint(len(kb)) + kb + b"\x12" + varint(len(vb)) + vb
        out += b"\x72" + varint(len(entry)) + entry
    return bytes(out)


class TimeAsColumn(torch.nn.Module):
    """A malformed model for the load checks: t is [B, 1] instead of [B]."""

    def forward(self, x, t):
        return -x * t


def export(module, d, path, prediction, convention, names=("x", "t"), dynamic=True, t_shape=None):
    import io
    module.eval()
    x = torch.zeros(4, d)
    t = torch.full(t_shape or (4,), 0.5)
    buf = io.BytesIO()
    axes = {names[0]: {0: "batch"}, names[1]: {0: "batch"}, "out": {0: "batch"}} if dynamic else None
    torch.onnx.export(module, (x, t), buf, input_names=list(names), output_names=["out"],
                      dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True)
    props = {}
    if prediction:
        props["cldiffusion.prediction"] = prediction
    if convention:
        props["cldiffusion.convention"] = convention
    data = with_metadata(buf.getvalue(), props)
    with open(path, "wb") as f:
        f.write(data)
    print(f"wrote {path} ({len(data)} bytes, {prediction}, {convention})")


def export_labelled(module, d, path, props, class_dtype=torch.int64):
    import io
    module.eval()
    x, t = torch.zeros(4, d), torch.full((4,), 0.5)
    c = torch.tensor([0, 1, 2, GMM_CLASSES], dtype=class_dtype)
    buf = io.BytesIO()
    axes = {"x": {0: "batch"}, "t": {0: "batch"}, "class": {0: "batch"}, "out": {0: "batch"}}
    torch.onnx.export(module, (x, t, c), buf, input_names=["x", "t", "class"], output_names=["out"],
                      dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True)
    data = with_metadata(buf.getvalue(), props)
    with open(path, "wb") as f:
        f.write(data)
    print(f"wrote {path} ({len(data)} bytes, {props})")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    out = sys.argv[1]
    mlp_path = sys.argv[2] if len(sys.argv) > 2 else "models/checkerboard.safetensors"
    torch.manual_seed(0)
    meta, tensors = read_safetensors(mlp_path)
    d_mlp = tensors["data_mean"].shape[0]
    export(Mlp(tensors), d_mlp, f"{out}/checkerboard.onnx", meta.get("prediction", "eps"), "ours")
    d = len(MU)
    export(GaussOurs(), d, f"{out}/gauss-ours.onnx", "score", "ours")
    export(GaussVp(linear_betas(), "eps"), d, f"{out}/gauss-vp-linear.onnx", "eps", "vp-linear:1000")
    export(GaussVp(cosine_betas(), "v"), d, f"{out}/gauss-vp-cosine.onnx", "v", "vp-cosine:1000")
    export(GaussEdm(), d, f"{out}/gauss-edm.onnx", "x0", "edm")
    # malformed models: each must be refused at load with an error naming the problem
    export(GaussOurs(), d, f"{out}/bad-no-prediction.onnx", None, None)
    export(GaussOurs(), d, f"{out}/bad-names.onnx", "score", "ours", names=("input", "time"))
    export(GaussOurs(), d, f"{out}/bad-fixed-batch.onnx", "score", "ours", dynamic=False)
    export(TimeAsColumn(), d, f"{out}/bad-t-rank.onnx", "score", "ours", t_shape=(4, 1))
    # class-conditional: the labelled mixture, and two malformed class inputs
    labelled = {"cldiffusion.prediction": "eps", "cldiffusion.convention": "ours",
                "cldiffusion.classes": str(GMM_CLASSES), "cldiffusion.null_class": str(GMM_CLASSES)}
    export_labelled(GmmLabelled(), 3, f"{out}/gmm-labelled.onnx", labelled)
    export_labelled(GmmLabelled(), 3, f"{out}/bad-class-no-count.onnx",
                    {"cldiffusion.prediction": "eps", "cldiffusion.convention": "ours"})
    export_labelled(FloatClass(), 3, f"{out}/bad-class-float.onnx", labelled, class_dtype=torch.float32)


if __name__ == "__main__":
    main()
