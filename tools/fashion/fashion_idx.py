"""Debian's dataset-fashion-mnist gzip IDX files as torch tensors (the classifier's and the U-Net's training scripts)."""
import gzip
import struct

import torch


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = struct.unpack(">I", raw[:4])[0]
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8)
    if data.numel() != int(torch.tensor(dims).prod()):
        raise SystemExit(f"{path}: {data.numel()} bytes for shape {dims}")
    return data.reshape(dims)
