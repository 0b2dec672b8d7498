#!/usr/bin/env bash
# The whole test suite, from a fresh machine with only the .NET SDK (and root for apt):
# installs an OpenCL platform (PoCL) when none is present, then runs the NUnit suite and the C ABI tests.
# Under CI=true a missing OpenCL platform is an error, never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

# `ldconfig -p | grep -q` is false under pipefail when grep exits at the first match and ldconfig dies of SIGPIPE (it
# did on a fresh machine with PoCL installed): read the whole list into a variable first.
ld_has() { local libs; libs="$(ldconfig -p 2>/dev/null || true)"; grep -qE "$1" <<<"$libs"; }
have_opencl() { [ -n "$(ls /etc/OpenCL/vendors/*.icd 2>/dev/null)" ] && ld_has 'libOpenCL\.so'; }
# PyTorch (Debian's python3-torch) re-exports the ONNX test models (tools/onnx/export_models.py) so a test can
# check the committed fixtures (about 150 MB of packages).
have_torch() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch" >/dev/null 2>&1; }
# OpenBLAS for the CPU backend's MLP (loaded at run time; without it the managed SGEMM runs alone, and under CI=true
# the BLAS tests fail rather than skip)
have_blas() { ld_has 'libopenblas\.so\.0'; }
# Fashion-MNIST (28x28 images) for the image model, its classifier and the IDX reader's tests on the real files
have_fashion() { [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; }
# A second, independent OpenCL implementation (Mesa's rusticl on llvmpipe, no fp64; docs/DEVICES.md): the OpenCL
# agreement tests run on it too, under CI=true or with CLDIFF_OTHER_DEVICES=1 (about 1 minute with Mesa's shader cache
# warm, up to about 15 the first time, most of it Mesa compiling our kernels, so a newcomer's run leaves it out). Installing it adds platforms with no devices unless
# RUSTICL_ENABLE names a driver, so it changes nothing for other programs; only the rerun sets RUSTICL_ENABLE=llvmpipe.
other_devices=false
if [ "${CI:-}" = "true" ] || [ -n "${CLDIFF_OTHER_DEVICES:-}" ]; then other_devices=true; fi
have_rusticl() { [ -f /etc/OpenCL/vendors/rusticl.icd ]; }
slurm_test=false
if [ "${CI:-}" = "true" ] || [ -n "${CLDIFF_SLURM_TEST:-}" ]; then slurm_test=true; fi

# Everything missing is installed in one apt transaction, in the background while the solution restores and builds
# (on a fresh machine the downloads and the build each take a minute or two; one after the other they took a third of
# the 8 minutes the whole run may take). tools/native-test.sh and tools/slurm/single-node.sh still install what they
# need when run alone; here they find it present.
missing=()
have_opencl || missing+=(pocl-opencl-icd ocl-icd-libopencl1 clinfo)
have_torch || missing+=(python3-torch)
have_blas || missing+=(libopenblas0-pthread)
have_fashion || missing+=(dataset-fashion-mnist)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)       # the C ABI tests (tools/native-test.sh)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v objcopy >/dev/null 2>&1 || missing+=(binutils)
command -v gcc >/dev/null 2>&1 || command -v clang >/dev/null 2>&1 || missing+=(gcc)
[ -e /usr/include/stdio.h ] || missing+=(libc6-dev)
command -v godot3-server >/dev/null 2>&1 || missing+=(godot3-server)   # the Godot plugin's headless test (native/godot)
if $other_devices && ! have_rusticl; then missing+=(mesa-opencl-icd); fi
if $slurm_test; then
  command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 || missing+=(slurm-wlm)
  command -v munged >/dev/null 2>&1 || missing+=(munge)
fi
deps_pid=""
deps_log=$(mktemp /tmp/cldiff-apt.XXXXXX.log)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: [${SECONDS} s] installing ${missing[*]} (apt, in the background while the solution builds)" >&2
    ( export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" ) >"$deps_log" 2>&1 &
    deps_pid=$!
  else
    echo "test.sh: missing ${missing[*]} and not root: install them with 'sudo apt-get install ${missing[*]}' (without them the tests that need them skip, and CI=true fails)" >&2
  fi
fi

echo "test.sh: [${SECONDS} s] building the solution (Release)" >&2
dotnet build ClDiffusion.sln -c Release --nologo -v quiet -clp:ErrorsOnly
# The native library's NativeAOT publish (minutes of compiling, mostly on one core) runs in the background from here,
# beside the end of the apt install and the main suite, which leave a core idle much of the time; the C ABI tests
# below wait for it and use it (CLD_PUBLISHED=1 tells tools/native-test.sh the library in out/native is this tree's).
mkdir -p out
rm -f out/native/libcldiffusion.so
( dotnet publish src/ClDiffusion.Native -r linux-x64 -c Release -o out/native -nologo >out/native-publish.log 2>&1 ) &
publish_pid=$!
other_pid="" cpu_pid="" native_pid=""
# every background job of this script, read when it exits (the single quotes defer the expansion): a failure anywhere
# must not leave one running
trap 'kill $publish_pid $other_pid $cpu_pid $native_pid 2>/dev/null || true' EXIT
if [ -n "$deps_pid" ]; then
  deps_status=0
  wait "$deps_pid" || deps_status=$?
  if [ "$deps_status" != 0 ]; then
    cat "$deps_log" >&2
    echo "test.sh: apt-get install ${missing[*]} failed (exit $deps_status)" >&2
    exit 1
  fi
  echo "test.sh: [${SECONDS} s] packages installed" >&2
fi
if [ "${CI:-}" = "true" ] && ! have_opencl; then
  echo "test.sh: CI=true but no OpenCL platform could be installed" >&2
  exit 1
fi
if [ "${CI:-}" = "true" ] && ! have_rusticl; then
  echo "test.sh: CI=true but Mesa's OpenCL (rusticl) could not be installed" >&2
  exit 1
fi

# One line per test as it finishes (the console logger at normal verbosity), so a loaded machine shows progress.
# Tests that take minutes are [Category("Slow")] (run after the suite under CI=true or with CLDIFF_SLOW_TESTS=1) or
# [Category("Exhaustive")] (CLDIFF_SLOW_TESTS=1 only); excluded tests are not run at all, so the summary's Skipped
# count is only the tests that really skipped.
log=$(mktemp /tmp/cldiff-test.XXXXXX.log)
run_tests() {  # $1: filter; further arguments go to dotnet test (e.g. --no-build)
  local filter="$1"; shift
  dotnet test ClDiffusion.sln -c Release --nologo --filter "$filter" "$@" --logger "console;verbosity=normal" 2>&1 \
    | grep --line-buffered -vE '^\s*$' | tee -a "$log"
}
# The main suite runs as two test processes at once, split by namespace into halves of about equal time (measured with
# cold caches: OpenCL, tuning, ONNX, guidance and the other device-side namespaces against the CLI, metrics, docs,
# samplers and models; 2026-12-07, the two at 185 s and 150 s before Models moved to the second): most tests keep one
# core busy, so one process left the other core idle much of the time. Together the two filters cover every test (the
# second is the complement of the first).
part_a="" part_b=""
for ns in OpenCL Tuning Onnx Robustness Scheduling Mlp IO Random Cpu Experiments Guidance; do
  part_a+="${part_a:+|}FullyQualifiedName~ClDiffusion.Tests.$ns."
  part_b+="${part_b:+&}FullyQualifiedName!~ClDiffusion.Tests.$ns."
done
echo "test.sh: [${SECONDS} s] the test suite (every test outside the Slow and Exhaustive categories, as two processes)" >&2
run_tests "TestCategory!=Slow&TestCategory!=Exhaustive&($part_a)" --no-build &
part_a_pid=$!
part_b_status=0
run_tests "TestCategory!=Slow&TestCategory!=Exhaustive&($part_b)" --no-build || part_b_status=$?
part_a_status=0
wait "$part_a_pid" || part_a_status=$?
if [ "$part_a_status" != 0 ] || [ "$part_b_status" != 0 ]; then
  echo "test.sh: the test suite failed (device-side half: exit $part_a_status, the other half: exit $part_b_status)" >&2
  exit 1
fi
# The rerun on the other OpenCL implementations (below) starts now, beside the Slow category: both mostly wait on one
# core for an OpenCL compiler (PoCL's, Mesa's), so on 2 cores they take about the time of one.
other_log=$(mktemp /tmp/cldiff-other-devices.XXXXXX.log)
if $other_devices; then
  echo "test.sh: [${SECONDS} s] the OpenCL agreement tests on the other OpenCL implementations (in the background; output below)" >&2
  bash tools/test-other-devices.sh >"$other_log" 2>&1 &
  other_pid=$!
fi
# The CPU kernels (managed SGEMM, SIMD exp/sin/cos, mixture scores, the MLP forward) once more as they run on machines
# without AVX-512 (the JIT told to leave it out: Vector256 paths) and without a BLAS (a library path that is not there:
# the managed SGEMM alone), under CI=true or with CLDIFF_CPU_PATHS=1, in the background beside the Slow category.
# Cpu/CpuPathTests checks each run took its path.
if [ "${CI:-}" = "true" ] || [ -n "${CLDIFF_CPU_PATHS:-}" ]; then
  cpu_filter="(FullyQualifiedName~ClDiffusion.Tests.Mlp.|FullyQualifiedName~ClDiffusion.Tests.Cpu.)&TestCategory!=Slow&TestCategory!=Exhaustive"
  # On a CPU without AVX-512 the suite above already ran the Vector256 paths: the JIT setting would change nothing.
  if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then avx512_off=true; else avx512_off=false; fi
  if $avx512_off; then
    echo "test.sh: [${SECONDS} s] the CPU-kernel tests with AVX-512 off for the JIT (DOTNET_EnableAVX512F=0), then without a BLAS (CLDIFF_BLAS=/nonexistent/libopenblas.so.0), in the background" >&2
  else
    echo "test.sh: [${SECONDS} s] the CPU-kernel tests without a BLAS (CLDIFF_BLAS=/nonexistent/libopenblas.so.0), in the background (this CPU has no AVX-512: the suite above ran the Vector256 paths)" >&2
  fi
  ( { ! $avx512_off || DOTNET_EnableAVX512F=0 run_tests "$cpu_filter" --no-build; } \
      && CLDIFF_BLAS=/nonexistent/libopenblas.so.0 run_tests "$cpu_filter&TestCategory!=Blas" --no-build ) &
  cpu_pid=$!
fi
# The C ABI tests (tools/native-test.sh: CTest with the C hosts, ASan, the Godot plugin) start as soon as the library's
# background publish is done, also beside the Slow category; their output follows at the end.
publish_status=0
wait "$publish_pid" || publish_status=$?
if [ "$publish_status" != 0 ]; then
  cat out/native-publish.log >&2
  echo "test.sh: dotnet publish src/ClDiffusion.Native failed (exit $publish_status)" >&2
  exit 1
fi
native_log=$(mktemp /tmp/cldiff-native.XXXXXX.log)
echo "test.sh: [${SECONDS} s] the C ABI tests (tools/native-test.sh, on the library published above; in the background, output below)" >&2
CLD_PUBLISHED=1 bash tools/native-test.sh >"$native_log" 2>&1 &
native_pid=$!
if [ "${CI:-}" = "true" ] || [ -n "${CLDIFF_SLOW_TESTS:-}" ]; then
  echo "test.sh: [${SECONDS} s] the Slow category (CI=true or CLDIFF_SLOW_TESTS set)" >&2
  run_tests "TestCategory=Slow" --no-build
fi
# Exhaustive: the OpenCL MLP kernel-variant matrices, the tuner runs and the guided/conditional MLP runs on OpenCL.
# With a cold PoCL kernel cache (a fresh machine) they compile the register-blocked MLP kernels for about 13 minutes
# on 2 cores, more than the whole suite may take, so they are opt-in (CLDIFF_SLOW_TESTS=1), not part of CI=true.
if [ -n "${CLDIFF_SLOW_TESTS:-}" ]; then
  echo "test.sh: [${SECONDS} s] the Exhaustive category (CLDIFF_SLOW_TESTS set)" >&2
  run_tests "TestCategory=Exhaustive" --no-build
fi
if [ -n "$cpu_pid" ]; then
  cpu_status=0
  wait "$cpu_pid" || cpu_status=$?
  echo "test.sh: [${SECONDS} s] the CPU-kernel reruns ended (exit $cpu_status)" >&2
  [ "$cpu_status" = 0 ] || exit "$cpu_status"
fi
# the summary in one plain line: totals over the runs above
count() { grep -oE "^\s*$1: +[0-9]+" "$log" | grep -oE '[0-9]+$' | awk '{s += $1} END {print s + 0}'; }
total=$(count "Total tests")
[ "$total" -gt 0 ] || { echo "test.sh: no test ran" >&2; exit 1; }
echo "$(count Passed) passed, $(count Failed) failed, $(count Skipped) skipped"
# Under CI=true a skip is a failure (a test that silently skips proves nothing) unless tests/skip-allowlist.txt names it
# with its reason.
if [ "${CI:-}" = "true" ]; then
  allowed="$(grep -vE '^\s*(#|$)' tests/skip-allowlist.txt | awk '{print $1}')"
  bad="$(grep -E '^\s+Skipped ' "$log" | sed -E 's/^\s+Skipped (.*) \[[^]]*\]\s*$/\1/' | sort -u \
    | while IFS= read -r name; do grep -qxF -- "$name" <<<"$allowed" || echo "$name"; done)"
  if [ -n "$bad" ]; then
    echo "test.sh: CI=true and these tests skipped (not on tests/skip-allowlist.txt):" >&2
    echo "$bad" >&2
    exit 1
  fi
fi

# The OpenCL agreement tests (generator, primitives, every sampler against the CPU backend, MLP kernels) once more on
# every other OpenCL device present, software renderers included (named explicitly, as a user would).
if [ -n "$other_pid" ]; then
  other_status=0
  wait "$other_pid" || other_status=$?
  echo "test.sh: [${SECONDS} s] the OpenCL agreement tests on the other OpenCL implementations (exit $other_status):" >&2
  cat "$other_log"
  [ "$other_status" = 0 ] || exit "$other_status"
else
  echo "test.sh: the rerun on other OpenCL implementations (tools/test-other-devices.sh) runs with CI=true or CLDIFF_OTHER_DEVICES=1"
fi
native_status=0
wait "$native_pid" || native_status=$?
echo "test.sh: [${SECONDS} s] the C ABI tests (tools/native-test.sh) ended (exit $native_status):" >&2
cat "$native_log"
[ "$native_status" = 0 ] || exit "$native_status"
# The sharded run on a real scheduler: a single-node Slurm (installed when missing, as root) runs a job array of shards
# and the dependent merge, then a run with a cancelled task resumed (tools/slurm/test-slurm.sh; about 20 s; the
# packages are installed with the others above), under CI=true or with CLDIFF_SLURM_TEST=1. Not root and no Slurm
# under CI=true is a failure, not a skip.
if $slurm_test; then
  echo "test.sh: [${SECONDS} s] the Slurm job-array test" >&2
  bash tools/slurm/test-slurm.sh
else
  echo "test.sh: the Slurm job-array test (tools/slurm/test-slurm.sh) runs with CI=true or CLDIFF_SLURM_TEST=1"
fi
echo "test.sh: done in ${SECONDS} s"
