#!/usr/bin/env bash
# Error against score evaluations at few steps for the default randomized midpoint (rm-x0) and the multistep
# baselines (docs/EXPERIMENTS.md, section "Few-step baselines"). Run from the repository root after
# `dotnet build tools/cldiff -c Release`.
#   N=10000 bash tools/solver-sweep.sh mix16-5 "1 2 3"    # preset, seeds (the table averages sliced W2 / floor over them)
set -euo pipefail
C="dotnet tools/cldiff/bin/Release/net10.0/cldiff.dll"
preset=${1:-mix16-5}
seeds=${2:-"1 2"}
n=${N:-10000}
steps=${STEPS:-5,10,20}

run() {  # label (its first word is the sampler), extra options
  local label=$1; shift
  for seed in $seeds; do
    $C experiment --preset "$preset" --seed "$seed" --samplers "${label%% *}" --step-list "$steps" --n "$n" --device cpu "$@" 2>/dev/null \
      | awk -v l="$label" -v s="$seed" -F'|' '$2 ~ /[a-z]/ && $3 ~ /[0-9]/ { gsub(/ /, "", $3); gsub(/ /, "", $4); gsub(/ /, "", $7);
          print l "|" $3 "|" $4 "|" s "|" $7 }'
  done
}
{
  run rm-x0
  run "rm-x0 logsnr" --grid logsnr
  run dpmpp-2m
  run "dpmpp-2m logsnr" --grid logsnr
  run dpmpp-3m
  run "dpmpp-3m full-order-final" --full-order-final
  run "dpmpp-3m logsnr" --grid logsnr
  run "dpmpp-3m logsnr full-order-final" --grid logsnr --full-order-final
  run unipc
  run "unipc bh1" --unipc-variant bh1
  run "unipc logsnr" --grid logsnr
  run "unipc bh1 logsnr" --grid logsnr --unipc-variant bh1
  run "unipc logsnr full-order-final" --grid logsnr --full-order-final
  run "unipc order 2 logsnr" --grid logsnr --order 2
} | awk -F'|' '
  { key = $1 "|" $2; if (!(key in nfe)) { order[++m] = key; nfe[key] = $3 }
    if ($5 == "") { div[key]++ } else { sum[key] += $5; cnt[key]++ } }
  END {
    print "| sampler | steps | NFE/sample | sliced W2 / floor (mean over seeds) | diverged runs |"
    print "|---|---:|---:|---:|---:|"
    for (i = 1; i <= m; i++) { k = order[i]; split(k, p, "|")
      v = cnt[k] ? sprintf("%.2f", sum[k] / cnt[k]) : "diverged"
      printf "| %s | %s | %s | %s | %d |\n", p[1], p[2], nfe[k], v, div[k] + 0 }
  }'
