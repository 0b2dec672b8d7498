#!/usr/bin/env bash
# Second GPU pass: the selftest after the alpha fix, a longer anneal tuning whose database is then used by bench.
set -uo pipefail
R="$OUT/r"; mkdir -p "$R"
echo libnvidia-opencl.so.1 > /etc/OpenCL/vendors/nvidia.icd
export LD_LIBRARY_PATH="/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}"
export CLDIFF_CACHE="$R/cl-cache"
B=out/gpu/cldiff; DEV=opencl:NVIDIA
timeout 40 $B selftest --device $DEV 2>&1 | tee "$R/selftest.txt"
timeout 140 $B tune --device $DEV --kernel all --strategy anneal --time 100 --out "$R/tuning-gpu.json" > "$R/tune.txt" 2>&1
tail -20 "$R/tune.txt"
CLDIFF_TUNING="$R/tuning-gpu.json" timeout 60 $B devices 2>&1 | tail -8 | tee "$R/devices-tuned.txt"
CLDIFF_TUNING="$R/tuning-gpu.json" timeout 70 $B bench --device $DEV --rows 1048576 --dim 64 --reps 20 --n 8192 --steps 20 --runs 3 --dims 64 > "$R/bench-tuned.txt" 2>&1
tail -22 "$R/bench-tuned.txt"
rm -rf "$R/cl-cache"
tar czf "$OUT/results.tgz" -C "$R" .
