#!/usr/bin/env bash
# One prepared script for a GPU machine without the .NET SDK (docs/BENCHMARKS.md). Build here first:
#   dotnet publish tools/cldiff -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true -p:TrimMode=partial -p:CldOnnx=false -o out/gpu
# then run this script on the GPU machine from the repository root with out/gpu carried along.
# Everything it measures lands in $OUT (default out/gpu-results): device list, the selftest (the OpenCL test subset
# as a verb: Philox bit-identity and every sampler against the CPU backend), one sample run with its report and
# metrics, kernel and end-to-end benchmarks, the pipeline benchmark, the MLP benchmark and, where PyTorch is
# installed, the same MLP shapes in PyTorch fp32 (TF32 off) in the same call.
set -uo pipefail
OUT="${OUT:-out/gpu-results}"
mkdir -p "$OUT"
B=out/gpu/cldiff
DEV="${CLDIFF_GPU_DEVICE:-opencl:NVIDIA}"

# NVIDIA's OpenCL library is present but not registered with the ICD loader on these machines.
if [ -e /usr/local/nvidia/lib64/libnvidia-opencl.so.1 ] || ldconfig -p | grep -q libnvidia-opencl.so.1; then
  mkdir -p /etc/OpenCL/vendors
  [ -f /etc/OpenCL/vendors/nvidia.icd ] || echo libnvidia-opencl.so.1 > /etc/OpenCL/vendors/nvidia.icd
fi
export LD_LIBRARY_PATH="/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}"
export CLDIFF_CACHE="$OUT/cl-cache"

step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }
step "nvidia-smi"; nvidia-smi -L 2>&1 | tee "$OUT/nvidia-smi.txt"
step "devices"; $B devices 2>&1 | tee "$OUT/devices.txt"
step "selftest"; timeout 60 $B selftest --device "$DEV" 2>&1 | tee "$OUT/selftest.txt"
step "mlp bench"; timeout 90 $B mlpbench --device "$DEV" --configs --reps 5 2>&1 | tee "$OUT/mlpbench.txt"
if command -v python3 >/dev/null && python3 -c "import torch" 2>/dev/null; then
  step "torch mlp bench"; timeout 60 python3 tools/gpu/torch_mlp_bench.py 2>&1 | tee "$OUT/torch_mlp_bench.txt"
fi
step "bench"; timeout 150 $B bench --device "$DEV" --rows 1048576 --dim 64 --reps 20 --n 8192 --steps 20 --runs 3 \
  --pipeline --pipeline-n 1048576 --pipeline-chunk 65536 2>&1 | tee "$OUT/bench.txt"
step "sample"; timeout 60 $B sample --preset mix16-5 --sampler rm-pc --n 20000 --seed 1 --device "$DEV" --quiet \
  --out "$OUT/mix16-rmpc.npy" --report "$OUT/mix16-rmpc.json" 2>&1 | tee "$OUT/sample.txt"
step "eval"; timeout 60 $B eval --preset mix16-5 --samples "$OUT/mix16-rmpc.npy" 2>&1 | tee "$OUT/eval.txt"
rm -f "$OUT/mix16-rmpc.npy"
step "tune"; timeout 80 $B tune --device "$DEV" --kernel all --strategy random --time 60 --out "$OUT/tuning-gpu.json" 2>&1 | tail -60 | tee "$OUT/tune.txt"
rm -rf "$CLDIFF_CACHE"
step "done"
