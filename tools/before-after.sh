#!/usr/bin/env bash
# Same-run before/after speed check of a change: builds `cldiff` at a base commit (default: the newest commit at least
# 4 hours old) into a temporary folder beside this checkout's build, then runs each benchmark alternately with the old
# and the new build, `rounds` times, and prints both outputs' lines side by side for comparison (medians by eye; the
# machine is shared, so compare within a round). Usage: tools/before-after.sh [base-commit] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-$(git rev-list -1 --before='4 hours ago' HEAD)}; rounds=${2:-2}
old=$(mktemp -d /tmp/cldiff-base.XXXXXX); trap 'rm -rf "$old"' EXIT
git archive "$base" | tar -x -C "$old"
dotnet build "$old/tools/cldiff" -c Release --nologo -v q >/dev/null
dotnet build tools/cldiff -c Release --nologo -v q >/dev/null
echo "$(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg); base $(git rev-parse --short "$base"), new $(git rev-parse --short HEAD)"
benches=(
  "bench --device opencl --rows 65536 --dim 64 --reps 20 --n 2048 --steps 20 --runs 3"
  "mlpbench --device opencl --cpu --model models/checkerboard.safetensors,models/optdigits.safetensors --batches 4096 --reps 3 --rounds 3"
)
for b in "${benches[@]}"; do
  for r in $(seq 1 "$rounds"); do
    for side in old new; do
      dir=$([ $side = old ] && echo "$old" || echo .)
      echo "== round $r, $side: cldiff $b"
      # shellcheck disable=SC2086
      (cd "$dir" && dotnet tools/cldiff/bin/Release/net10.0/cldiff.dll $b 2>&1 | grep -vE '^\s*$' | tail -25)
    done
  done
done
