#!/usr/bin/env bash
# Third GPU pass: end-to-end samplers in cldiff (OpenCL, tuned database) and in straightforward PyTorch, same call.
set -uo pipefail
echo libnvidia-opencl.so.1 > /etc/OpenCL/vendors/nvidia.icd
export LD_LIBRARY_PATH="/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}"
export CLDIFF_CACHE="$OUT/cl-cache"
export CLDIFF_TUNING=tuning/nvidia-h200.json
B=out/gpu/cldiff
timeout 100 $B bench --device opencl:NVIDIA --skip-kernels --dims 64,1024 --samplers ei,rm --n 8192 --steps 20 --runs 3 2>&1 | tee "$OUT/cldiff-samplers.txt"
timeout 100 python3 tools/gpu/torch_sampler_bench.py --n 8192 --steps 20 --dims 64,1024 --runs 3 2>&1 | tee "$OUT/torch-samplers.txt"
rm -rf "$OUT/cl-cache"
