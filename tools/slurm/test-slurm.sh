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
repo=$(pwd)
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { local d=$(( $(now_ms) - $1 )); printf '%d.%d' $((d / 1000)) $((d % 1000 / 100)); }   # seconds since $1 (ms)
t_start=$(now_ms)
log() { echo "test-slurm [$(secs "$t_start") s]: $*" >&2; }
fail() { echo "test-slurm: FAIL: $*" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  [ "$(id -u)" = 0 ] || fail "slurm-wlm and munge are not installed and this is not root: sudo apt-get install slurm-wlm munge"
  log "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq slurm-wlm munge || { apt-get update -qq && apt-get install -y -qq slurm-wlm munge; }; } >/dev/null
  # the packages' own services cannot run here (no systemd); nothing of theirs is started or needed
  log "installed"
fi
[ "$(id -u)" = 0 ] || fail "the single-node Slurm runs its daemons as root (SlurmUser=root); run as root"

dll="$repo/tools/cldiff/bin/Release/net10.0/cldiff.dll"
[ -f "$dll" ] || { log "building tools/cldiff (Release)"; dotnet build tools/cldiff -c Release --nologo -v q >/dev/null; }
export CLDIFF="dotnet $dll"
export CLDIFF_TASK_DEVICE=cpu           # the same backend for the tasks and the single run: byte-for-byte comparable
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

tmp=$(mktemp -d /tmp/cldiff-slurm.XXXXXX)
chmod 755 "$tmp"                         # munged's socket folder must be searchable by all
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [ $rc -ne 0 ]; then
    echo "test-slurm: failed (exit $rc); logs in $tmp:" >&2
    for f in "$tmp"/slurmctld.log "$tmp"/slurmd.log "$tmp"/run*/logs/*; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  else
    rm -rf "$tmp"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- ports: three free TCP ports above 20000 (slurmctld, slurmd), not in use now
used=$({ ss -Htan 2>/dev/null || true; } | awk '{print $4}' | sed 's/.*://' | sort -u)
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    grep -qx "$p" <<<"$used" || { used+=$'\n'$p; echo "$p"; return; }
  done
  fail "no free port found"
}
ctld_port=$(free_port); slurmd_port=$(free_port)

# ---- munge
mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool"
chmod 755 "$tmp/munge"
dd if=/dev/urandom of="$tmp/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge.key"
munged -F --force --key-file="$tmp/munge.key" --socket="$tmp/munge/munge.socket" --pid-file="$tmp/munged.pid" \
  --log-file="$tmp/munged.log" --seed-file="$tmp/munge.seed" 2>>"$tmp/munged.stderr" &
pids+=($!)
for _ in $(seq 100); do [ -S "$tmp/munge/munge.socket" ] && break; sleep 0.05; done
[ -S "$tmp/munge/munge.socket" ] || fail "munged did not start (see $tmp/munged.log)"

# ---- slurm.conf
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
export SLURM_CONF="$tmp/slurm.conf"
cat > "$SLURM_CONF" <<CONF
ClusterName=cldifftest
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MinJobAge=600
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF

slurmctld -D -i -f "$SLURM_CONF" 2>>"$tmp/slurmctld.stderr" &
pids+=($!)
slurmd -D -N localhost -f "$SLURM_CONF" 2>>"$tmp/slurmd.stderr" &
pids+=($!)
for _ in $(seq 150); do
  state=$(sinfo -h -N -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.1
done
[ "${state:-}" = idle ] || fail "the node did not come up idle (sinfo: '${state:-}')"
log "single-node Slurm up (slurmctld :$ctld_port, slurmd :$slurmd_port, $cpus CPUs)"

# ---- helpers: job states from scontrol (sacct needs slurmdbd)
states() { { scontrol show job -o "$1" 2>/dev/null || true; } | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }
reason() { { scontrol show job -o "$1" || true; } | grep -o 'Reason=[^ ]*' | head -1 | cut -d= -f2; }
wait_done() {  # $1: job id; waits until no task is pending or running (120 s at most)
  for _ in $(seq 1200); do
    scontrol show job -o "$1" | grep -qE 'JobState=(PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED)' || return 0
    sleep 0.1
  done
  fail "job $1 did not finish in 120 s: $(states "$1")"
}
expect_completed() { local s; s=$(states "$1"); [[ "$s" =~ ^\ ?[0-9]+\ COMPLETED\;$ ]] || fail "job $1: expected every task COMPLETED, got $s"; }

args=(--preset mix16-5 --sampler ei --steps 10 --n 4000 --seed 7)

# ---- the single run to compare with
$CLDIFF sample "${args[@]}" --device cpu --quiet --out "$tmp/whole.npy" 2>/dev/null
log "single run done ($(stat -c %s "$tmp/whole.npy") bytes)"

# ---- 1. array + dependent merge
t1=$(now_ms)
read -r array merge < <(tools/slurm/submit.sh 4 "$tmp/run1" "$tmp/run1/merged.npy" "${args[@]}")
log "run 1: array job $array, merge job $merge (afterok:$array)"
wait_done "$merge"
expect_completed "$array"; expect_completed "$merge"
cmp "$tmp/run1/merged.npy" "$tmp/whole.npy" || fail "run 1: the merged shards differ from the single run"
log "run 1: 4 shards + merge in $(secs "$t1") s; merged == single run byte for byte"

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
