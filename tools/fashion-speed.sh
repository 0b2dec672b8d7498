#!/usr/bin/env bash
# Speed of the Fashion-MNIST score model (d = 784) on this machine's CPU (docs/EXPERIMENTS.md, section
# "Fashion-MNIST (d = 784)", issue 24): cldiff mlpbench (PoCL kernel, CPU backend, OpenBLAS sgemm on the same GEMMs,
# one process) and PyTorch's CPU forward of the same file (tools/fashion/torch_mlp_cpu.py), alternately, ROUNDS
# times; then the peak memory of a sampling run at two n (the difference per sample is the memory per sample).
# Run from the repository root after `dotnet build tools/cldiff -c Release`:
#   MODEL=models/fashion.safetensors BATCHES=1024 ROUNDS=2 bash tools/fashion-speed.sh
set -euo pipefail
C="dotnet tools/cldiff/bin/Release/net10.0/cldiff.dll"
model=${MODEL:-models/fashion.safetensors}
batches=${BATCHES:-1024}
rounds=${ROUNDS:-2}
for r in $(seq "$rounds"); do
  echo "## round $r, $(date -u '+%Y-%m-%d %H:%M:%S') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
  $C mlpbench --device opencl --cpu --model "$model" --batches "$batches" --reps 3 --rounds 2
  /usr/bin/python3 tools/fashion/torch_mlp_cpu.py "$model" --batches "$batches" --threads "$(nproc)" --reps 5
done
echo "## memory, $(date -u '+%Y-%m-%d %H:%M:%S') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for n in 500 2000; do
  for s in rm-x0 rm-x0-pc; do
    /usr/bin/time -f "$s n=$n max RSS %M KB, %e s wall" $C sample --model "$model" --class all --guidance 2 --n "$n" \
      --sampler "$s" --steps 5 --device cpu --out "$tmp/s.npy" 2>&1 | tail -2
  done
done
