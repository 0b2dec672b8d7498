#!/bin/bash
# Throughput of a sharded run against the number of array tasks on the single-node Slurm of single-node.sh: the same
# run (BENCH_N samples, default 2000000, of mix16-5 with BENCH_SAMPLER, default ei, BENCH_STEPS, default 10) as an
# array of 1 task and of 2 tasks, one CPU each (--cpus-per-task=1: the CPU backend runs one thread per task), the merge
# as the dependent job. Wall time is from submission to the merge's completion; the merged files of both must be
# equal byte for byte. Prints a Markdown table (docs/SCALING.md). Root; installs slurm-wlm and munge when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
me=bench-slurm
source tools/slurm/single-node.sh
n=${BENCH_N:-2000000} sampler=${BENCH_SAMPLER:-ei} steps=${BENCH_STEPS:-10}
args=(--preset mix16-5 --sampler "$sampler" --steps "$steps" --n "$n" --seed 1)
echo "$(date -u +%FT%TZ) $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cldiff sample ${args[*]} --device cpu, --cpus-per-task=1"
echo
echo "| array tasks | wall (submit to merged) | samples/s | sampling time per task (s) |"
echo "|---|---|---|---|"
for tasks in 1 2; do
  t=$(now_ms)
  read -r array merge < <(CLDIFF_SBATCH_OPTS="--cpus-per-task=1" tools/slurm/submit.sh "$tasks" "$tmp/b$tasks" "$tmp/b$tasks/merged.npy" "${args[@]}")
  wait_done "$merge"
  ms=$(( $(now_ms) - t ))
  expect_completed "$array"; expect_completed "$merge"
  per=$(grep -h 'NFE/sample' "$tmp/b$tasks"/logs/shard-*.out | sed -E 's/.*, ([0-9.]+) s on .*/\1/' | tr '\n' ' ')
  echo "| $tasks | $(secs "$t") s | $(( n * 1000 / ms )) | $per|"
done
cmp "$tmp/b1/merged.npy" "$tmp/b2/merged.npy" || fail "the 1-task and 2-task runs differ"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
