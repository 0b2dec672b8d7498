#!/usr/bin/env bash
# The ClDiffusion Godot plugin, built and run headless (issue 28). Exits 0 only when every check passes:
#   1. builds native/godot/cldiffusion_godot.c into libcldiffusion_godot.so (rpath $ORIGIN) unless --plugin gives one;
#   2. copies the example project (native/examples/godot/project) to a work folder, with the plugin and
#      libcldiffusion.so in its bin/;
#   3. runs it with godot3-server under a timeout, CLD_GODOT_TEST=1: the project checks error values, rising
#      progress, frame times, cancel latency in frames and leaving the tree with a job running, writes its samples
#      and the CLI flags of the same runs, and quits with a status;
#   4. runs `cldiff sample` with those flags and compares the samples byte for byte; checks the log for script
#      errors and for Godot's crash handler.
#
#   native/examples/godot/run.sh [--plugin FILE] [--lib DIR] [--cli FILE] [--work DIR] [--godot FILE] [--onnxruntime FILE]
#
# Defaults: the library in out/native (published first when missing), the CLI tools/cldiff/bin/Release/net10.0/cldiff
# (built when missing), work folder native/build/godot-run. ONNX: the plugin built here has .onnx support when the
# Microsoft.ML.OnnxRuntime NuGet package is in the NuGet cache (building the CLI restores it); --onnxruntime gives
# the libonnxruntime.so a plugin given with --plugin needs (CMake passes it when it built the plugin with ONNX). Without godot3-server it exits 77 (skipped), or 1 when
# CI=true (CI must run this test).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
plugin="" ort_lib="" lib_dir="$ROOT/out/native" cli="$ROOT/tools/cldiff/bin/Release/net10.0/cldiff" work="$ROOT/native/build/godot-run"
godot="${GODOT:-godot3-server}"
while [ $# -gt 0 ]; do
  case "$1" in
    --plugin) plugin="$2"; shift 2 ;;
    --lib) lib_dir="$2"; shift 2 ;;
    --cli) cli="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --godot) godot="$2"; shift 2 ;;
    --onnxruntime) ort_lib="$2"; shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
say() { printf '== %s\n' "$*"; }

if ! command -v "$godot" >/dev/null 2>&1; then
  if [ "${CI:-}" = true ]; then
    echo "run.sh: $godot not found, and CI=true: the Godot test must run in CI (apt-get install godot3-server)" >&2
    exit 1
  fi
  echo "run.sh: $godot not found (apt-get install godot3-server): skipped" >&2
  exit 77
fi

if [ ! -f "$lib_dir/libcldiffusion.so" ]; then
  say "dotnet publish src/ClDiffusion.Native -r linux-x64 -c Release -o $lib_dir"
  dotnet publish "$ROOT/src/ClDiffusion.Native" -r linux-x64 -c Release -o "$lib_dir"
fi
if [ ! -x "$cli" ]; then
  say "dotnet build tools/cldiff -c Release"
  dotnet build "$ROOT/tools/cldiff" -c Release -v quiet -nologo
fi

rm -rf "$work"
mkdir -p "$work/home" "$work/out"
cp -r "$ROOT/native/examples/godot/project" "$work/project"
mkdir -p "$work/project/bin"
if [ -z "$plugin" ]; then
  # ONNX Runtime: the package version ClDiffusion.Onnx references, from the NuGet cache
  ort_version="$(sed -n 's/.*"Microsoft.ML.OnnxRuntime" Version="\([^"]*\)".*/\1/p' "$ROOT/src/ClDiffusion.Onnx/ClDiffusion.Onnx.csproj")"
  ort_dir="${NUGET_PACKAGES:-$HOME/.nuget/packages}/microsoft.ml.onnxruntime/$ort_version"
  onnx_flags=()
  if [ -n "$ort_version" ] && [ -f "$ort_dir/build/native/include/onnxruntime_c_api.h" ] && [ -f "$ort_dir/runtimes/linux-x64/native/libonnxruntime.so" ]; then
    onnx_flags=(-DCLDG_ONNX -I"$ort_dir/build/native/include")
    ort_lib="$ort_dir/runtimes/linux-x64/native/libonnxruntime.so"
    say "building the plugin (with .onnx support: ONNX Runtime $ort_version)"
  else
    say "building the plugin (no ONNX Runtime package in $ort_dir: without .onnx support)"
  fi
  cc -std=c11 -O2 -Wall -Wextra -Wno-unused-parameter -Werror -fPIC -shared -fvisibility=hidden \
     -I"$ROOT/native/godot/include" -I"$ROOT/native/godot" -I"$ROOT/native/include" "${onnx_flags[@]}" \
     "$ROOT/native/godot/cldiffusion_godot.c" "$ROOT/native/godot/cldg_onnx.c" \
     -L"$lib_dir" -lcldiffusion -ldl -Wl,-rpath,'$ORIGIN' -Wl,--no-undefined -o "$work/project/bin/libcldiffusion_godot.so"
else
  cp "$plugin" "$work/project/bin/libcldiffusion_godot.so"
fi
cp "$lib_dir/libcldiffusion.so" "$work/project/bin/"
# the plugin opens libonnxruntime.so beside itself (a link: the library is 29 MB)
[ -z "$ort_lib" ] || ln -s "$ort_lib" "$work/project/bin/libonnxruntime.so"

# The CPU backend picks OpenBLAS or its own SGEMM per MLP layer by timing them, so two processes can round
# differently; with the managed SGEMM everywhere the samples are bit-identical between processes.
export CLDIFF_CPU_GEMM=managed
say "$godot --path $work/project (headless, CLD_GODOT_TEST=1)"
set +e
HOME="$work/home" LANG=en_US.UTF-8 CLD_GODOT_TEST=1 CLD_GODOT_OUT="$work/out" \
  CLD_GODOT_MODEL="$ROOT/models/optdigits.safetensors" CLD_GODOT_TARGET="$ROOT/native/examples/target2d_labelled.json" \
  CLD_GODOT_ONNX_DIR="$ROOT/tests/fixtures/onnx" CLD_GODOT_DEVICE=cpu \
  timeout -k 10 240 "$godot" --path "$work/project" >"$work/godot.log" 2>&1
rc=$?
set -e
cat "$work/godot.log"
fail=0
bad() { echo "run.sh: FAILED: $*" >&2; fail=1; }
[ "$rc" = 0 ] || bad "godot exited with status $rc (1: a check failed, 2: plugin not loaded, 3: frame watchdog, 124/137: timeout, 134: crash)"
grep -q "^ALL CHECKS PASSED" "$work/godot.log" || bad "the project did not report ALL CHECKS PASSED"
if grep -qE "SCRIPT ERROR|Parse Error|handle_crash|Program crashed|Dumping the backtrace" "$work/godot.log"; then
  bad "script errors or a crash in the log"
fi

say "the samples against cldiff sample"
# Jobs A and B (the digits MLP): libcldiffusion.so is NativeAOT-compiled for the baseline x86-64 instruction set, so its
# managed SGEMM runs without AVX, while the CLI's JIT uses AVX2/AVX-512 where the CPU has them (other float rounding).
# DOTNET_EnableAVX=0 runs the CLI on the library's instruction set. Job C (a Gaussian mixture) and job D (ONNX
# Runtime picks its kernels itself, the same in both processes) need no such pin.
# Job D (an ONNX graph, run by ONNX Runtime in the plugin and in the CLI) only when the plugin has ONNX support.
jobs=(A B C)
if grep -q "^phase D" "$work/godot.log" || [ -n "$ort_lib" ]; then jobs+=(D); fi
for j in "${jobs[@]}"; do
  if [ ! -f "$work/out/job$j.f32" ] || [ ! -f "$work/out/job$j.args" ]; then bad "job $j wrote no samples"; continue; fi
  args="$(cat "$work/out/job$j.args")"
  isa=""
  case "$j" in A | B) isa="DOTNET_EnableAVX=0" ;; esac
  cmd="$isa '$cli' sample --device cpu --quiet $args --out '$work/out/cli$j.npy'"
  echo "$cmd"
  if ! eval "$cmd"; then bad "cldiff sample failed for job $j"; continue; fi
  bytes=$(stat -c %s "$work/out/job$j.f32")
  # the .npy is a header, then the float32 samples: its last $bytes bytes must be the plugin's file
  if [ "$bytes" -gt 0 ] && [ "$(stat -c %s "$work/out/cli$j.npy")" -gt "$bytes" ] && tail -c "$bytes" "$work/out/cli$j.npy" | cmp -s - "$work/out/job$j.f32"; then
    echo "  job $j: $((bytes / 4)) floats identical to the CLI's"
  else
    bad "job $j: the plugin's samples differ from cldiff sample's ($args)"
  fi
done
[ -s "$work/out/digits.png" ] || bad "no digits.png"

if [ "$fail" = 0 ]; then
  echo "run.sh: every check passed (picture: $work/out/digits.png)"
else
  exit 1
fi
