#!/usr/bin/env bash
# Error against score evaluations for the data-prediction randomized midpoint (rm-x0) and its comparisons
# (docs/EXPERIMENTS.md, section "rm-x0"). Run from the repository root after `dotnet build tools/cldiff -c Release`.
#   bash tools/x0-sweep.sh mix16-5 "1 2 3 4"     # preset, seeds (the table averages sliced W2 / floor over them)
#   bash tools/x0-sweep.sh learned              # the shipped models through `cldiff check`
# 20000 samples per run by default (N=...): at 4000 the noise floor hides the differences at 10-20 NFE.
# Step counts are chosen so that each sampler lands on the NFE targets 3, 5, 10, 20, 40, 80 where its cost allows
# (2-NFE samplers: steps = NFE / 2 rounded down); the table prints the NFE each run really used.
set -euo pipefail
C="dotnet tools/cldiff/bin/Release/net10.0/cldiff.dll"
preset=${1:-mix16-5}
seeds=${2:-"1 2"}
n=${N:-20000}

if [ "$preset" = learned ]; then
  for m in checkerboard optdigits; do
    cnt=2000; [ $m = optdigits ] && cnt=500
    for spec in "ei:10" "ei:20" "dpmpp-2m:10" "dpmpp-2m:20" "rm:5" "rm:10" "rm-x0:5" "rm-x0:10" "rm-x0:20" \
                "rm-x0 --x0-start fresh --midpoint 1:5" "rm-x0 --x0-start fresh:5" "rm-x0 --x0-start fresh:10"; do
      s=${spec%:*}; k=${spec##*:}
      out=$($C check --model $m --sampler $s --steps $k --n $cnt --denoise --device cpu 2>&1 | tr '\n' ' ')
      echo "$m | $s | $k | $out"
    done
  done
  exit 0
fi

run() {  # sampler label, steps list, extra options
  local label=$1 steps=$2; shift 2
  for seed in $seeds; do
    $C experiment --preset "$preset" --seed "$seed" --samplers "${label%% *}" --step-list "$steps" --n "$n" --device cpu "$@" 2>/dev/null \
      | awk -v l="$label" -v s="$seed" -F'|' '$2 ~ /[a-z]/ && $3 ~ /[0-9]/ { gsub(/ /, "", $3); gsub(/ /, "", $4); gsub(/ /, "", $5); gsub(/ /, "", $7);
          print l "|" $3 "|" $4 "|" $5 "|" s "|" $7 }'
  done
}
{
  run ei 3,5,10,20,40,80
  run dpmpp-2m 3,5,10,20,40,80
  run rm-x0 3,5,10,20,40,80
  run heun 1,2,5,10,20,40
  run rm 1,2,5,10,20,40
  run "rm-x0 fresh m1" 1,2,5,10,20,40 --x0-start fresh --midpoint 1
  run "rm-x0 fresh m2" 1,2,5,10,20,40 --x0-start fresh --midpoint 2
  run ei-pc 3,5,10,20
  run rm-pc 3,5,10,20
  run rm-x0-pc 3,5,10,20
  run "rm-x0-pc fresh" 3,5,10,20 --x0-start fresh
  run prm 2,5,10,20
  run prm-x0 2,5,10,20
} | awk -F'|' '
  { key = $1 "|" $2; if (!(key in nfe)) { order[++m] = key; nfe[key] = $3; rounds[key] = $4 }
    if ($6 == "") { div[key]++ } else { sum[key] += $6; cnt[key]++ } }
  END {
    print "| sampler | steps | NFE/sample | rounds | sliced W2 / floor (mean over seeds) | diverged runs |"
    print "|---|---:|---:|---:|---:|---:|"
    for (i = 1; i <= m; i++) { k = order[i]; split(k, p, "|")
      v = cnt[k] ? sprintf("%.2f", sum[k] / cnt[k]) : "diverged"
      printf "| %s | %s | %s | %s | %s | %d |\n", p[1], p[2], nfe[k], rounds[k], v, div[k] + 0 }
  }'
