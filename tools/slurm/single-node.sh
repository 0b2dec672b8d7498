# A single-node Slurm for tools/slurm/test-slurm.sh and bench-slurm.sh, sourced from the repository root with `me` set
# (the log prefix): installs slurm-wlm and munge when missing (root), starts munged, slurmctld and slurmd on localhost
# as root from a temporary folder $tmp (its own slurm.conf, munge key and socket, state, spool, logs, two free ports),
# exports SLURM_CONF for the client commands and CLDIFF (the Release build), and stops every daemon it started by its
# PID on exit (trap), also on failure, when it prints the daemons' and jobs' logs and keeps $tmp.
# No cgroups: proctrack/linuxproc, task/none, select/cons_tres with CR_CPU, accounting off (sacct needs slurmdbd, so
# jobs are followed with scontrol); batch_sched_delay=0 avoids a 3 s pause between waves of array tasks.
# Defines: log, fail, secs, now_ms, states JOB, reason JOB, wait_done JOB, expect_completed JOB.
repo=$(pwd)
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { local d=$(( $(now_ms) - $1 )); printf '%d.%d' $((d / 1000)) $((d % 1000 / 100)); }   # seconds since $1 (ms)
t_start=$(now_ms)
log() { echo "$me [$(secs "$t_start") s]: $*" >&2; }
fail() { echo "$me: FAIL: $*" >&2; exit 1; }

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
# the same backend for the tasks and the single run, so they are byte-for-byte comparable: the CPU backend, also for
# tasks given a (fake) GPU; a real GPU node leaves CLDIFF_GPU_DEVICE to the array script's default
export CLDIFF_GPU_DEVICE=cpu CLDIFF_CPU_DEVICE=cpu
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

tmp=$(mktemp -d "/tmp/cldiff-$me.XXXXXX")
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
    echo "$me: failed (exit $rc); logs in $tmp:" >&2
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
# FAKE_GPUS=K: the node offers K GPUs through GRES, backed by links to /dev/null $tmp/gpu/nvidia0.. (no device
# is opened without cgroups); Slurm still allocates them and sets CUDA_VISIBLE_DEVICES per task, which is what the array script
# maps to an OpenCL device.
fake_gpus=${FAKE_GPUS:-0}
gres_types="" node_gres=""
if [ "$fake_gpus" -gt 0 ]; then
  mkdir -p "$tmp/gpu"
  # slurmd wants character or block devices: links to /dev/null (never opened: no cgroups constrain devices)
  for ((g = 0; g < fake_gpus; g++)); do ln -s /dev/null "$tmp/gpu/nvidia$g"; done
  echo "Name=gpu File=$tmp/gpu/nvidia[0-$((fake_gpus - 1))]" > "$tmp/gres.conf"
  gres_types="GresTypes=gpu" node_gres="Gres=gpu:$fake_gpus"
fi
cat > "$SLURM_CONF" <<CONF
ClusterName=cldifftest
$gres_types
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
NodeName=localhost CPUs=$cpus RealMemory=$mem $node_gres State=UNKNOWN
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

