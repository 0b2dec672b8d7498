#!/usr/bin/env bash
# Is a sampler's "above noise" real? Samples the 16-d mixture (mix16-5) with one sampler for several seeds at two sizes
# and prints, per metric, in how many seeds the calibrated verdict (docs/DESIGN.md section 2) said "above noise": with
# exact samples that happens in at most 2.5% of seeds, and a real error shows in more seeds and at a larger ratio as n
# grows. Usage: tools/verdict-study.sh [sampler] [seeds] [n1] [n2]   (defaults: rm-pc 10 4000 16000; CPU backend)
set -euo pipefail
cd "$(dirname "$0")/.."
sampler=${1:-rm-pc}; seeds=${2:-10}; n1=${3:-4000}; n2=${4:-16000}
dotnet build tools/cldiff -c Release --nologo -v q >/dev/null
cldiff=(dotnet tools/cldiff/bin/Release/net10.0/cldiff.dll)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "$(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg): $sampler on mix16-5, $seeds seeds, CPU backend"
for n in "$n1" "$n2"; do
  for s in $(seq 1 "$seeds"); do
    "${cldiff[@]}" sample --preset mix16-5 --sampler "$sampler" --n "$n" --seed "$s" --device cpu --out "$tmp/x.npy" 2>/dev/null
    "${cldiff[@]}" eval --preset mix16-5 --samples "$tmp/x.npy" --seed $((s + 1000003)) --json > "$tmp/e$n-$s.json"
  done
  echo "n = $n: metric, seeds above noise (of $seeds), median ratio, median p"
  for m in mean_error frechet gaussian_kl sliced_w2 energy_distance mmd2 ks_max ks_mean; do
    for s in $(seq 1 "$seeds"); do
      # one line per seed: ratio p verdict, read off the JSON without jq
      tr -d '\n ' < "$tmp/e$n-$s.json" | grep -oE "\"$m\":\{[^}]*\}" \
        | sed -E 's/.*"value":([^,]*),"noise_floor":([^,]*),"floor_max":[^,]*,"p_value":([^,]*),.*"verdict":"([^"]*)".*/\1 \2 \3 \4/' \
        | awk '{ printf "%.6g %s %s\n", $1 / $2, $3, $4 }'
    done > "$tmp/rows"
    above=$(grep -vc withinnoise "$tmp/rows" || true)
    med() { cut -d' ' -f"$1" "$tmp/rows" | sort -g | sed -n "$(( (seeds + 1) / 2 ))p"; }
    printf "  %-16s %2d  %8.2fx  %s\n" "$m" "$above" "$(med 1)" "$(med 2)"
  done
done
