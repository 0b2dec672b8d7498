#!/bin/bash
# Submits a sharded `cldiff sample` run to Slurm: a job array of N shard tasks and the merge as a dependent job
# (afterok). Prints "ARRAY_JOB MERGE_JOB". Running it again with the same arguments resumes: complete shards are
# skipped by their tasks, so only missing or partial shards are sampled (docs/SCALING.md, "Failures and resuming").
#
#   tools/slurm/submit.sh N OUTDIR MERGED.npy [cldiff sample options...]
#   tools/slurm/submit.sh 16 shards samples.npy --preset mix16-5 --sampler rm-pc --seed 7 --n 1000000000
#
# Environment: CLDIFF_GPUS_PER_TASK (default 0: CPU; 1 adds --gres=gpu:1 to each array task), CLDIFF_SBATCH_OPTS
# (more sbatch options for both jobs, e.g. "--partition=gpu --time=2:00:00"), CLDIFF_ARRAY (the array indices, default
# 0-(N-1); e.g. "2" to resubmit one task), CLDIFF_LOGS (folder of the job logs, default OUTDIR/logs), CLDIFF (the
# program, default `cldiff`). sbatch passes the environment on to the jobs (--export=ALL).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 3 ]; then echo "usage: $0 N OUTDIR MERGED.npy [cldiff sample options]" >&2; exit 2; fi
shards=$1 outdir=$2 merged=$3; shift 3
case "$shards" in ''|*[!0-9]*|0) echo "submit.sh: N must be a positive integer, got '$shards'" >&2; exit 2;; esac
case "$merged" in *.npy) ;; *) echo "submit.sh: MERGED must end in .npy, got '$merged'" >&2; exit 2;; esac
mkdir -p "$outdir"
logs=${CLDIFF_LOGS:-$outdir/logs}; mkdir -p "$logs"
read -r -a extra <<<"${CLDIFF_SBATCH_OPTS:-}"
gres=()
if [ "${CLDIFF_GPUS_PER_TASK:-0}" != 0 ]; then gres=(--gres="gpu:${CLDIFF_GPUS_PER_TASK}"); fi
array=$(sbatch --parsable "${extra[@]}" "${gres[@]}" --array="${CLDIFF_ARRAY:-0-$((shards - 1))}" \
  --output="$logs/shard-%A_%a.out" "$here/cldiff-array.sbatch" "$shards" "$outdir" "$@")
array=${array%%;*}
merge=$(sbatch --parsable "${extra[@]}" --dependency="afterok:$array" --kill-on-invalid-dep=no \
  --output="$logs/merge-%j.out" "$here/cldiff-merge.sbatch" "$shards" "$outdir" "$merged")
echo "$array ${merge%%;*}"
