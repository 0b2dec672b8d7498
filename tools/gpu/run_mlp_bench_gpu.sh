#!/usr/bin/env bash
# MLP kernel check + benchmark on an NVIDIA machine (DESIGN 3): the OpenCL kernels through a self-contained build
# of tools/gpu/mlpbench, then the PyTorch reference if torch is installed. Build the runner first, here:
#   dotnet publish tools/gpu/mlpbench -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true -p:TrimMode=partial -o out/mlpbench
# then run this script on the GPU machine from the repository root (with out/mlpbench carried along).
set -u
OUTDIR=${OUT:-/tmp/mlp-bench-out}; mkdir -p "$OUTDIR"
if [ -d /etc/OpenCL/vendors ] && ! grep -qs nvidia /etc/OpenCL/vendors/*.icd; then echo libnvidia-opencl.so.1 > /etc/OpenCL/vendors/nvidia.icd; fi
export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi -L 2>&1 | tee "$OUTDIR/nvidia-smi.txt"
W=${WIDTHS:-256,512,1024}; B=${BATCHES:-1024,4096,16384,65536}
CLDIFF_DEVICE=opencl timeout 400 out/mlpbench/mlpbench gpu "$W" "$B" 7 2>&1 | tee "$OUTDIR/opencl.txt"
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  timeout 150 python3 tools/gpu/torch_mlp_bench.py --widths "$W" --batches "$B" 2>&1 | tee "$OUTDIR/torch.txt"
else
  echo "no PyTorch with CUDA here" | tee "$OUTDIR/torch.txt"
fi
