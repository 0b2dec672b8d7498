#!/usr/bin/env bash
# Fashion-MNIST (d = 784) evidence of issue 24 (docs/EXPERIMENTS.md, section "Fashion-MNIST (d = 784)"): the
# classifier-feature Frechet distance and class accuracy of `cldiff image-eval` (docs/IMAGES.md) against score
# evaluations, per sampler and per guidance weight. Run from the repository root after `dotnet build tools/cldiff -c Release`.
#   bash tools/fashion-sweep.sh guidance            # w = 0 .. 8 (GUIDANCE="0 2"), rm-x0, 20 steps
#   bash tools/fashion-sweep.sh samplers            # every sampler at about 5, 10, 20, 50 NFE, --guidance $W
#   bash tools/fashion-sweep.sh parallel            # prm-x0 (Picard rounds K) at about 50 NFE against rm-x0 at the same rounds
#   bash tools/fashion-sweep.sh pc                  # ei-pc at the step counts of rm-x0-pc
#   bash tools/fashion-sweep.sh seeds               # rm-x0 and heun at 20 NFE with other seeds (the noise of a row)
#   bash tools/fashion-sweep.sh paired              # rm-x0 against DPM-Solver++(2M)/(3M) and UniPC at 5 and 10 NFE, seeds 0..4
#   bash tools/fashion-sweep.sh grids               # the same four on every time grid at 5, 10 and 20 NFE, seeds 0 and 1
#   MODEL=models/fashion.safetensors N=2000 SEED=0 W=4 bash tools/fashion-sweep.sh samplers   # W: --guidance (default 2)
# Each row is one `cldiff image-eval --model $MODEL --class all --guidance W --count N --seed SEED --sampler S
# --steps K --device cpu --json` (classes 0..9 in turn); its lines go to docs/img/data/fashion-PART.csv (override
# with CSV=...) and a markdown table to stdout. The floor (the first N training images) is the same in every row.
set -euo pipefail
C="dotnet tools/cldiff/bin/Release/net10.0/cldiff.dll"
part=${1:-samplers}
model=${MODEL:-fashion}
n=${N:-2000}
seed=${SEED:-0}
w=${W:-2}
csv=${CSV:-docs/img/data/fashion-$part.csv}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$(dirname "$csv")"
echo "label,sampler,steps,guidance,nfe,seconds,frechet,floor,accuracy,min_class_accuracy,min_class,floor_accuracy,floor_min_class_accuracy,load" > "$csv"
echo "# $(date -u '+%Y-%m-%d %H:%M') UTC, $(uname -n), load $(cut -d' ' -f1-3 /proc/loadavg); model $model, n $n, seed $seed" >&2

run() {  # label guidance sampler steps [extra options]
  local label=$1 g=$2 s=$3 k=$4; shift 4
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  if ! $C image-eval --model "$model" --class all --guidance "$g" --count "$n" --seed "$seed" --sampler "$s" --steps "$k" \
      --device cpu --json "$@" > "$tmp/j" 2> "$tmp/e"; then
    echo "$label: failed: $(tail -2 "$tmp/e" | tr '\n' ' ')" >&2; return 0
  fi
  python3 - "$tmp/j" "$tmp/e" "$label" "$s" "$k" "$g" "$load" >> "$csv" <<'EOF'
import json, re, sys
j = json.load(open(sys.argv[1])); e = open(sys.argv[2]).read()
label, s, k, g, load = sys.argv[3:8]
m = re.search(r"samples: .*?([0-9.]+) NFE/sample.*?, ([0-9.]+) s\s*$", e, re.S)
nfe, sec = (m.group(1), m.group(2)) if m else ("?", "?")
a, f = j["samples"], j["floor"]
acc = [v for v in a["accuracy_per_class"] if v is not None]
i = min(range(len(a["accuracy_per_class"])), key=lambda c: a["accuracy_per_class"][c] if a["accuracy_per_class"][c] is not None else 2)
facc = [v for v in f["accuracy_per_class"] if v is not None]
print(f'{label},{s},{k},{g},{nfe},{sec},{a["frechet"]:.3f},{f["frechet"]:.3f},{a["class_accuracy"]:.4f},{min(acc):.4f},{j["classes"][i]},'
      f'{f["class_accuracy"]:.4f},{min(facc):.4f},{load}')
EOF
  tail -1 "$csv" >&2
}

case $part in
  guidance)
    for g in ${GUIDANCE:-0 0.5 1 2 4 6 8}; do run rm-x0 "$g" rm-x0 20; done ;;
  samplers)
    # steps chosen so that NFE per sample is about 5, 10, 20, 50 (cldiff samplers: heun 2 per step; the *-pc samplers
    # add 4 corrector NFE per 0.5 of sampler time and cannot go below about 15-25); the csv has the NFE cldiff counted
    for s in rm-x0 dpmpp-2m ei; do for k in 5 10 20 50; do run "$s" "$w" "$s" "$k"; done; done
    for k in 3 5 10 25; do run heun "$w" heun "$k"; done
    for k in 2 5 10; do run rm-x0-pc "$w" rm-x0-pc "$k"; done
    for k in 3 5 10; do run rm-pc "$w" rm-pc "$k"; done
    [ -z "${SKIP_EXTRA:-}" ] && for s in dpmpp-3m unipc; do for k in 5 10 20 50; do run "$s" "$w" "$s" "$k"; done; done ;;
  parallel)
    # prm-x0 with R = 4 midpoints and K Picard rounds per window: R (K + 1) + 1 NFE per window in K + 2 rounds, so
    # K = 1, 2, 3 with 5, 4, 3 windows spend 45, 52, 51 NFE in 15, 16, 15 rounds; rm-x0 with 15 steps: 15 in 15
    run "prm-x0 K=1" "$w" prm-x0 5 -K 1
    run "prm-x0 K=2" "$w" prm-x0 4 -K 2
    run "prm-x0 K=3" "$w" prm-x0 3 -K 3
    run "rm-x0" "$w" rm-x0 15 ;;
  pc)
    # ei-pc, the paper's comparison for rm-pc's d^{5/12} against d^{1/2}, at the step counts of rm-x0-pc in "samplers"
    for k in 2 5 10; do run ei-pc "$w" ei-pc "$k"; done ;;
  seeds)
    # the seed's noise at the converged distance: rm-x0 at 20 NFE with other seeds (SEEDS), heun at 20 NFE with seed 1
    for sd in ${SEEDS:-1 2}; do seed=$sd; run "rm-x0 seed $sd" "$w" rm-x0 20; done
    seed=1; run "heun seed 1" "$w" heun 10 ;;
  paired)
    # the few-step comparison with the seed's noise taken out: every sampler on the same seeds (SEEDS), so each seed's
    # difference to rm-x0 is paired (same initial noise, same floor); the summary below gives its mean and standard error
    for sd in ${SEEDS:-0 1 2 3 4}; do seed=$sd
      for k in ${STEPS:-5 10}; do for s in rm-x0 dpmpp-2m dpmpp-3m unipc; do run "$s seed $sd" "$w" "$s" "$k"; done; done
    done ;;
  grids)
    # the grid decides the few-step ranking (the third-order solvers gain most from log-SNR steps): every sampler on
    # every grid, paired over seeds as above
    for sd in ${SEEDS:-0 1}; do seed=$sd
      for k in ${STEPS:-5 10 20}; do for s in rm-x0 dpmpp-2m dpmpp-3m unipc; do for g in ${GRIDS:-shrinking logsnr karras}; do
        run "$s $g seed $sd" "$w" "$s" "$k" --grid "$g"; done; done; done
    done ;;
  *) echo "part: guidance, samplers, parallel, pc, seeds, paired or grids" >&2; exit 2 ;;
esac

python3 - "$csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if rows: print(f'floor at n: Frechet {rows[0]["floor"]}, class accuracy {100*float(rows[0]["floor_accuracy"]):.2f}% (min class {100*float(rows[0]["floor_min_class_accuracy"]):.1f}%)')
print("| sampler | steps | w | NFE/sample | Frechet | / floor | class accuracy | min class (which) | seconds | load |")
print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
for r in rows:
    print(f'| {r["label"]} | {r["steps"]} | {r["guidance"]} | {r["nfe"]} | {float(r["frechet"]):.2f} | {float(r["frechet"])/float(r["floor"]):.1f} | '
          f'{100*float(r["accuracy"]):.1f}% | {100*float(r["min_class_accuracy"]):.1f}% ({r["min_class"]}) | {r["seconds"]} | {r["load"]} |')
# paired rows ("LABEL seed S", several seeds): each label's Frechet minus the first label's on the same seed and steps
paired = {}
for r in rows:
    if " seed " in r["label"]:
        name, sd = r["label"].split(" seed ")
        paired.setdefault(r["steps"], {}).setdefault(name, {})[sd] = float(r["frechet"])
for k, by in paired.items():
    first = next(iter(by)); base = by[first]
    if len(base) < 2: continue
    print(f"\npaired over seeds {', '.join(sorted(base))}, {k} steps: Frechet (mean over seeds), and minus {first}'s on the same seed (mean +- standard error)")
    for s, v in by.items():
        common = sorted(set(v) & set(base)); d = [v[x] - base[x] for x in common]
        m = sum(d) / len(d); se = (sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d)) ** 0.5 if len(d) > 1 else float("nan")
        print(f"| {s} | {sum(v[x] for x in common) / len(common):.2f} | {m:+.2f} +- {se:.2f} |")
EOF
