#!/usr/bin/env bash
# The CI run as a fresh machine sees it, timed: a clean clone of HEAD, `CI=true bash .ci/run` with empty NuGet, PoCL
# and Mesa caches (fresh directories for NUGET_PACKAGES and XDG_CACHE_HOME), and, with --purge (root),
# every Debian package the test script installs removed first (with what only they pulled in, and apt's downloaded
# archives), so the run downloads and installs them as a fresh machine does. The 8-minute limit for the README's test
# command applies to this run. Prints the phases test.sh reports and the total.
#
#   bash tools/cold-ci.sh            # cold caches, packages as installed
#   bash tools/cold-ci.sh --purge    # also a fresh machine's packages (root; removes them from this machine)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
purge=false
[ "${1:-}" = "--purge" ] && purge=true
work="$(mktemp -d /tmp/cldiff-cold-ci.XXXXXX)"
if $purge; then
  [ "$(id -u)" = 0 ] || { echo "cold-ci: --purge needs root" >&2; exit 1; }
  # the packages tools/test.sh installs (cmake, make, gcc, binutils and libc6-dev are on a fresh machine of this kind)
  pkgs=(pocl-opencl-icd libpocl2 ocl-icd-libopencl1 clinfo python3-torch libopenblas0-pthread dataset-fashion-mnist
        godot3-server mesa-opencl-icd slurm-wlm slurmctld slurmd slurm-client munge)
  installed=()
  for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && installed+=("$p"); done
  if [ ${#installed[@]} -gt 0 ]; then
    echo "cold-ci: removing ${installed[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${installed[@]}" >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get autoremove --purge -y -qq >/dev/null
  fi
  apt-get clean
fi
git clone -q "$root" "$work/repo"
mkdir -p "$work/nuget" "$work/xdg"
cd "$work/repo"
start=$SECONDS
status=0
CI=true NUGET_PACKAGES="$work/nuget" XDG_CACHE_HOME="$work/xdg" \
  bash .ci/run >"$work/ci.log" 2>&1 || status=$?
total=$((SECONDS - start))
grep -E '^test\.sh: \[' "$work/ci.log" || true
tail -n 3 "$work/ci.log"
echo "cold-ci: CI=true bash .ci/run exited $status after $total s (purge: $purge; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the end; log $work/ci.log)"
exit "$status"
