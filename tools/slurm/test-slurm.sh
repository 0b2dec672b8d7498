#!/bin/bash
# The sharded run on a real Slurm: a single-node cluster (munged, slurmctld, slurmd on localhost, started here as root
# in a temporary folder with its own slurm.conf, state, logs and free ports), then
#  1. a 4-task job array + the dependent (afterok) merge via tools/slurm/submit.sh; the merged file must equal one
#     `cldiff sample` run byte for byte;
#  2. a second run with one array task cancelled (scancel): the merge stays pending (DependencyNeverSatisfied); the
#     whole array is resubmitted, the merge's dependency rewritten to it, and only the missing shard may be sampled (the
#     other tasks log "skipping" and leave their files untouched); the merge again equals the single run.
# Every daemon is stopped by its PID on exit, also on failure. Installs slurm-wlm and munge when missing (root).
# Run by tools/test.sh under CI=true or with CLDIFF_SLURM_TEST=1. Needs the Release build of tools/cldiff.
set -euo pipefail
cd "$(dirname "$0")/../.."
me=test-slurm
export FAKE_GPUS=2                        # two GRES GPUs backed by plain files: the GPU path of the array script
source tools/slurm/single-node.sh

args=(--preset mix16-5 --sampler ei --steps 10 --n 4000 --seed 7)

# ---- the single run to compare with
$CLDIFF sample "${args[@]}" --device cpu --quiet --out "$tmp/whole.npy"
log "single run done ($(stat -c %s "$tmp/whole.npy") bytes)"

# ---- bad input to the array script: a clear error and exit 2, before any work
bad() {  # $1: expected message; the rest: the command
  local want=$1 out rc=0; shift
  out=$("$@" 2>&1) || rc=$?
  [ "$rc" = 2 ] && grep -qF -- "$want" <<<"$out" || fail "bad input: expected exit 2 and '$want', got exit $rc: $out"
}
bad "SHARDS must be a positive integer" env SLURM_ARRAY_TASK_ID=0 tools/slurm/cldiff-array.sbatch four "$tmp/bad" "${args[@]}"
bad "SLURM_ARRAY_TASK_ID is not set" env -u SLURM_ARRAY_TASK_ID tools/slurm/cldiff-array.sbatch 4 "$tmp/bad" "${args[@]}"
bad "array task 4 is outside the 4 shards" env SLURM_ARRAY_TASK_ID=4 tools/slurm/cldiff-array.sbatch 4 "$tmp/bad" "${args[@]}"
bad "do not pass --out" env SLURM_ARRAY_TASK_ID=0 tools/slurm/cldiff-array.sbatch 4 "$tmp/bad" "${args[@]}" --out x.npy
bad "N must be a positive integer" tools/slurm/submit.sh 0 "$tmp/bad" "$tmp/bad/m.npy" "${args[@]}"
bad "MERGED must end in .npy" tools/slurm/submit.sh 4 "$tmp/bad" "$tmp/bad/m.csv" "${args[@]}"
[ ! -e "$tmp/bad/s00000.npy" ] || fail "bad input left a shard"

# ---- 1. array + dependent merge, one (fake) GRES GPU per task
t1=$(now_ms)
read -r array merge < <(CLDIFF_GPUS_PER_TASK=1 tools/slurm/submit.sh 4 "$tmp/run1" "$tmp/run1/merged.npy" "${args[@]}")
log "run 1: array job $array, merge job $merge (afterok:$array)"
wait_done "$merge"
expect_completed "$array"; expect_completed "$merge"
for i in 0 1 2 3; do  # each task was given one of the node's two GPUs and took the GPU branch (CLDIFF_GPU_DEVICE)
  grep -qE "shard $i/4 .*device cpu \(GPUs: [01], " "$tmp/run1/logs/shard-${array}_$i.out" \
    || fail "run 1: task $i did not get one GRES GPU: $(head -1 "$tmp/run1/logs/shard-${array}_$i.out")"
done
cmp "$tmp/run1/merged.npy" "$tmp/whole.npy" || fail "run 1: the merged shards differ from the single run"
log "run 1: 4 shards (one GRES GPU each: $(grep -ohE 'GPUs: [0-9]+' "$tmp"/run1/logs/shard-*.out | cut -d' ' -f2 | tr '\n' ' ')) + merge in $(secs "$t1") s; merged == single run byte for byte"

# ---- 2. one task cancelled, the array rerun: only the missing shard is sampled
t2=$(now_ms)
export CLDIFF_SBATCH_OPTS="--hold"       # held, so task 2 is cancelled before it can start
read -r array merge < <(tools/slurm/submit.sh 4 "$tmp/run2" "$tmp/run2/merged.npy" "${args[@]}")
unset CLDIFF_SBATCH_OPTS
scancel "${array}_2"
scontrol release "$array" "$merge"
wait_done "$array"
s=$(scontrol show job -o "$array" | grep -oE '(JobId|ArrayTaskId|JobState)=[^ ]*' | tr '\n' ' ' || true)
# a cancelled pending task may be purged from the controller's records at once: check which tasks completed
done_tasks=$(grep -oE 'ArrayTaskId=[0-9]+ JobState=COMPLETED' <<<"$s" | grep -oE '=[0-9]+' | tr -d = | sort | tr '\n' ' ' || true)
[ "$done_tasks" = "0 1 3 " ] || fail "run 2: tasks 0 1 3 should have completed and 2 not: $s"
[ ! -e "$tmp/run2/s00002.npy" ] || fail "run 2: the cancelled task left a shard"
for _ in $(seq 50); do [ "$(reason "$merge")" = DependencyNeverSatisfied ] && break; sleep 0.1; done
[ "$(reason "$merge")" = DependencyNeverSatisfied ] || fail "run 2: the merge should wait for ever (DependencyNeverSatisfied), reason is $(reason "$merge")"
[ ! -e "$tmp/run2/merged.npy" ] || fail "run 2: merged although a shard is missing"
log "run 2: task ${array}_2 cancelled; tasks 0,1,3 done; merge $merge pending (DependencyNeverSatisfied)"
touch -d '2020-01-01 00:00:00' "$tmp"/run2/s0000[013].npy
# the whole array again (what a user does after a preemption), the pending merge pointed at it
read -r array2 merge_unused < <(CLDIFF_SBATCH_OPTS="--hold" tools/slurm/submit.sh 4 "$tmp/run2" "$tmp/run2/merged.npy" "${args[@]}")
scancel "$merge_unused"                   # submit.sh's own merge: the original one is reused below
scontrol update JobId="$merge" Dependency="afterok:$array2"
scontrol release "$array2"
wait_done "$merge"
expect_completed "$array2"; expect_completed "$merge"
sampled=$({ grep -l 'samples (shard' "$tmp"/run2/logs/shard-"${array2}"_*.out || true; } | sed -E 's/.*_([0-9]+)\.out/\1/' | sort | tr '\n' ' ')
skipped=$({ grep -l 'already complete' "$tmp"/run2/logs/shard-"${array2}"_*.out || true; } | sed -E 's/.*_([0-9]+)\.out/\1/' | sort | tr '\n' ' ')
[ "$sampled" = "2 " ] || fail "run 2: the rerun should sample only shard 2, sampled: '$sampled'"
[ "$skipped" = "0 1 3 " ] || fail "run 2: the rerun should skip shards 0 1 3, skipped: '$skipped'"
for i in 0 1 3; do
  [ "$(stat -c %Y "$tmp/run2/s0000$i.npy")" = "$(date -d '2020-01-01 00:00:00' +%s)" ] || fail "run 2: complete shard $i was rewritten"
done
cmp "$tmp/run2/merged.npy" "$tmp/whole.npy" || fail "run 2: the merged shards differ from the single run"
log "run 2: rerun sampled shard 2 only (0 1 3 skipped, files untouched), merged == single run byte for byte, in $(secs "$t2") s"
log "PASS"
