#!/usr/bin/env bash
# How far each sampler's images are from the probability-flow ODE's own solution from the same start noise
# (docs/EXPERIMENTS.md, "Solver error against the ODE's solution"): the Frechet distance of the image metric rewards
# some solver errors (rows below the converged value), so this measures the error itself. Every sampler draws its
# start noise from the counter-based generator keyed by seed and sample index, so sample i of every run starts from
# the same x_T; the reference is DPM-Solver++(3M) with REF_STEPS steps, checked against Heun with REF_STEPS / 2.
# Run from the repository root after `dotnet build tools/cldiff -c Release`.
#   bash tools/fashion-solver-error.sh                          # rm-x0, dpmpp-2m, dpmpp-3m, unipc, ei at 5, 10, 20 NFE
#   N=1000 W=2 SEED=0 REF_STEPS=400 SAMPLERS="rm-x0 dpmpp-3m" STEPS="5 10" bash tools/fashion-solver-error.sh
#   OPTS="--grid logsnr" CSV=docs/img/data/fashion-solver-error-logsnr.csv bash tools/fashion-solver-error.sh   # options of the samplers
# Output: a markdown table (RMS error per pixel over all samples, in grey levels: the images span 0-255; the median
# over samples of each sample's RMS error; and the image metric's Frechet distance to the reference's samples, by
# `cldiff image-eval --samples S --against REF`) and CSV=... (default docs/img/data/fashion-solver-error.csv).
set -euo pipefail
C="dotnet tools/cldiff/bin/Release/net10.0/cldiff.dll"
model=${MODEL:-fashion}
n=${N:-1000}
seed=${SEED:-0}
w=${W:-2}
ref_steps=${REF_STEPS:-400}
samplers=${SAMPLERS:-rm-x0 dpmpp-2m dpmpp-3m unipc ei}
steps=${STEPS:-5 10 20}
csv=${CSV:-docs/img/data/fashion-solver-error.csv}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$(dirname "$csv")"
echo "# $(date -u '+%Y-%m-%d %H:%M') UTC, $(uname -n), load $(cut -d' ' -f1-3 /proc/loadavg); model $model, n $n, seed $seed, w $w, reference dpmpp-3m x $ref_steps; sampler options: ${OPTS:-none}" >&2
draw() {  # file sampler steps [options]
  local f=$1 s=$2 k=$3; shift 3
  $C sample --model "$model" --class all --guidance "$w" --n "$n" --seed "$seed" --sampler "$s" --steps "$k" --device cpu --out "$f" "$@" 2>&1 \
    | grep -E "NFE" | head -1 >&2
}
draw "$tmp/ref.npy" dpmpp-3m "$ref_steps"
draw "$tmp/check.npy" heun $((ref_steps / 2))
rows=()
# shellcheck disable=SC2086  # OPTS is a list of options
for s in $samplers; do for k in $steps; do draw "$tmp/$s-$k.npy" "$s" "$k" ${OPTS:-}; rows+=("$s,$k,$tmp/$s-$k.npy"); done; done
# the distributional view: the image metric's Frechet distance of each set to the reference set (same classifier
# features as cldiff image-eval), which a randomized solver's mean-zero per-sample errors barely move
files=("$tmp/check.npy"); for r in "${rows[@]}"; do files+=("${r##*,}"); done
for f in "${files[@]}"; do
  echo "$f $($C image-eval --samples "$f" --against "$tmp/ref.npy" --json 2>/dev/null | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["frechet"])')"
done > "$tmp/frechet.txt"
/usr/bin/python3 - "$tmp/ref.npy" "$tmp/check.npy" "$csv" "$w" "$tmp/frechet.txt" "${rows[@]}" <<'PY'
import sys, numpy as np
ref = np.load(sys.argv[1]).astype(np.float64); check = np.load(sys.argv[2]).astype(np.float64)
csv_path, w, rows = sys.argv[3], sys.argv[4], sys.argv[6:]
fd = dict(line.rsplit(" ", 1) for line in open(sys.argv[5]).read().split("\n") if line.strip())
def err(x):
    per = np.sqrt(((x - ref) ** 2).mean(axis=1))
    return float(np.sqrt(((x - ref) ** 2).mean())), float(np.median(per))
out = [("heun (reference check)", "", *err(check), float(fd[sys.argv[2]]))]
for r in rows:
    s, k, path = r.split(",", 2)
    out.append((s, k, *err(np.load(path).astype(np.float64)), float(fd[path])))
with open(csv_path, "w") as f:
    f.write("sampler,steps,guidance,rms_error,median_sample_rms_error,frechet_to_reference\n")
    for s, k, e, m, q in out: f.write(f"{s},{k},{w},{e:.5f},{m:.5f},{q:.4f}\n")
print("| sampler | steps | RMS error per pixel | median sample's RMS error | Frechet to the reference's samples |")
print("|---|---:|---:|---:|---:|")
for s, k, e, m, q in out: print(f"| {s} | {k} | {e:.4f} | {m:.4f} | {q:.3f} |")
PY
