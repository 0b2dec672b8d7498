#!/usr/bin/env bash
# The issue's check for the shipped Fashion-MNIST U-Net: for each class K, `cldiff sample --model fashion-unet
# --class K --guidance 2 --sampler rm-x0 --steps 20`, and the share of the samples the Fashion-MNIST classifier labels
# K, then the mean over the ten classes (docs/EXPERIMENTS.md). Run from the repository root after
# `dotnet build -c Release`:
#   N=50 SEED=1 bash tools/fashion/check_unet.sh [CLASSIFIER]
set -euo pipefail
N=${N:-50}; SEED=${SEED:-1}
CLS=${1:-models/fashion-classifier.onnx}
CLDIFF=tools/cldiff/bin/Release/net10.0/cldiff
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
specs=()
for K in 0 1 2 3 4 5 6 7 8 9; do
  "$CLDIFF" sample --model fashion-unet --class "$K" --guidance 2 --sampler rm-x0 --steps 20 --n "$N" --seed "$SEED" \
    --out "$OUT/class$K.npy" --device cpu --quiet
  specs+=("$OUT/class$K.npy:$K")
done
dotnet run -c Release tools/fashion/eval_unet.cs -- npy "$CLS" "${specs[@]}"
