#!/usr/bin/env python3
"""Trains the Fashion-MNIST classifier of the image metric (docs/IMAGES.md) and exports it as ONNX.

    /usr/bin/python3 tools/fashion/train_classifier.py [--out models/fashion-classifier.onnx] [--epochs 4]
        [--threads 2] [--seed 0] [--data /usr/share/datasets/fashion-mnist]

The command that made the shipped models/fashion-classifier.onnx (see docs/IMAGES.md for its accuracy, device and
time):  /usr/bin/python3 tools/fashion/train_classifier.py

CPU PyTorch (Debian's python3-torch 1.13 is enough), seeded (--seed, torch.use_deterministic_algorithms); a rerun
was not compared byte for byte with the shipped file (22 minutes on the shared 2-core machine). Data: the gz
IDX files of the Debian package dataset-fashion-mnist (train 60,000 and t10k 10,000 images of 28 x 28 bytes).

The network: conv 3x3 (--conv1, 16 channels) + ReLU + max-pool 2, conv 3x3 (--conv2, 32) + ReLU + max-pool 2, linear
1568 -> 64 + ReLU (the features), linear 64 -> 10 (the logits). Trained on the 60,000 training images only; the test split is used once,
after training, for the accuracy written into the file.

The ONNX graph: input x [B, 784] float32 (B dynamic), the 28 x 28 image row-major, each pixel as its IDX byte / 255
(0 = background, 1 = full intensity; the graph standardises inside); outputs logits [B, 10] and features [B, 64] (the
penultimate layer, after its ReLU). Metadata: cldiffusion.kind = classifier, cldiffusion.input (the convention above),
cldiffusion.image = 28x28, cldiffusion.classes (the ten names), cldiffusion.test_accuracy (on the 10,000 test images),
cldiffusion.features, cldiffusion.train (this command).
"""
import argparse
import io
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "onnx"))
from export_models import with_metadata  # noqa: E402  (appends ONNX metadata without the onnx package)
from fashion_idx import read_idx  # noqa: E402  (the gzip IDX reader both training scripts use)

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FEATURES = 64
# mean and standard deviation of the training pixels in [0, 1] units (computed from the data, rounded; the graph
# standardises with these constants, so the input stays the plain byte / 255)
MEAN, STD = 0.2860, 0.3530


def load(data_dir, split):
    x = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz")).reshape(-1, 784).float() / 255.0
    y = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz")).long()
    return x, y


class Net(torch.nn.Module):
    def __init__(self, c1, c2):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(c1, c2, 3, padding=1)
        self.fc1 = torch.nn.Linear(c2 * 7 * 7, FEATURES)
        self.fc2 = torch.nn.Linear(FEATURES, 10)

    def forward(self, x):
        h = ((x - MEAN) / STD).reshape(-1, 1, 28, 28)
        h = torch.nn.functional.max_pool2d(torch.relu(self.conv1(h)), 2)
        h = torch.nn.functional.max_pool2d(torch.relu(self.conv2(h)), 2)
        features = torch.relu(self.fc1(h.flatten(1)))
        return self.fc2(features), features


def accuracy(net, x, y):
    net.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(x), 2000):
            right += (net(x[i:i + 2000])[0].argmax(1) == y[i:i + 2000]).sum().item()
    return right / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models/fashion-classifier.onnx")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--conv1", type=int, default=16, help="channels of the first convolution")
    ap.add_argument("--conv2", type=int, default=32, help="channels of the second convolution")
    a = ap.parse_args()
    if not 1 <= a.threads <= 2:
        raise SystemExit("--threads: 1 or 2 (this is a small job on a shared machine)")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)

    xtr, ytr = load(a.data, "train")
    xte, yte = load(a.data, "t10k")
    print(f"train {tuple(xtr.shape)}, test {tuple(xte.shape)}; pixel mean {xtr.mean():.4f} std {xtr.std():.4f}")

    net = Net(a.conv1, a.conv2)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    steps_per_epoch = (len(xtr) + a.batch - 1) // a.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(a.seed)
    t0 = time.time()
    for epoch in range(a.epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(0, len(xtr), a.batch):
            idx = perm[i:i + a.batch]
            logits, _ = net(xtr[idx])
            loss = torch.nn.functional.cross_entropy(logits, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{a.epochs}: train loss {total / len(xtr):.4f}, {time.time() - t0:.0f} s", flush=True)

    acc = accuracy(net, xte, yte)
    train_acc = accuracy(net, xtr, ytr)
    print(f"test accuracy {acc:.4f} ({round(acc * len(xte))}/{len(xte)}), train accuracy {train_acc:.4f}")

    net.eval()
    buf = io.BytesIO()
    torch.onnx.export(net, (torch.zeros(4, 784),), buf, input_names=["x"], output_names=["logits", "features"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}},
                      opset_version=13, do_constant_folding=True)
    cmd = "/usr/bin/python3 tools/fashion/train_classifier.py" + "".join(
        f" --{k} {v}" for k, v in [("conv1", a.conv1), ("conv2", a.conv2), ("epochs", a.epochs), ("batch", a.batch), ("lr", a.lr), ("seed", a.seed), ("threads", a.threads)])
    props = {
        "cldiffusion.kind": "classifier",
        "cldiffusion.input": "pixel/255",
        "cldiffusion.image": "28x28",
        "cldiffusion.classes": ",".join(CLASSES),
        "cldiffusion.features": f"penultimate layer: linear {a.conv2 * 49} -> {FEATURES} + ReLU",
        "cldiffusion.test_accuracy": f"{acc:.4f}",
        "cldiffusion.train": cmd,
    }
    data = with_metadata(buf.getvalue(), props)
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, a.out)
    print(f"wrote {a.out} ({len(data)} bytes), {time.time() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
