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
if ! have_opencl; then
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: no OpenCL platform; installing PoCL (pocl-opencl-icd ocl-icd-libopencl1)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq pocl-opencl-icd ocl-icd-libopencl1 clinfo >/dev/null
  else
    echo "test.sh: no OpenCL platform and not root: install with 'sudo apt-get install pocl-opencl-icd ocl-icd-libopencl1'" >&2
  fi
fi
# PyTorch (Debian's python3-torch) re-exports the ONNX test models (tools/onnx/export_models.py) so a test can
# check the committed fixtures; about 150 MB of packages, 1.5 minutes to install on the 2-core machine.
have_torch() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch" >/dev/null 2>&1; }
if ! have_torch; then
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: no PyTorch for the ONNX export test; installing python3-torch" >&2
    export DEBIAN_FRONTEND=noninteractive
    # no second `apt-get update` on a fresh machine (the PoCL install above just ran one): only when the install fails
    { apt-get install -y -qq --no-install-recommends python3-torch || { apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-torch; }; } >/dev/null
  else
    echo "test.sh: no PyTorch and not root: the ONNX export test is skipped ('sudo apt-get install python3-torch')" >&2
  fi
fi
# OpenBLAS for the CPU backend's MLP (loaded at run time; without it the managed SGEMM runs alone, and under CI=true
# the BLAS tests fail rather than skip)
have_blas() { ld_has 'libopenblas\.so\.0'; }
if ! have_blas && [ "$(id -u)" = 0 ]; then
  echo "test.sh: no OpenBLAS; installing libopenblas0-pthread" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq libopenblas0-pthread || { apt-get update -qq && apt-get install -y -qq libopenblas0-pthread; }; } >/dev/null
fi
# Fashion-MNIST (Debian's dataset-fashion-mnist, about 30 MB): the IDX reader's test on the real files and the
# fashion model's checks (under CI=true they fail rather than skip without it)
if [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] && [ "$(id -u)" = 0 ]; then
  echo "test.sh: no Fashion-MNIST; installing dataset-fashion-mnist" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq dataset-fashion-mnist || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }; } >/dev/null
fi
if [ "${CI:-}" = "true" ] && ! have_opencl; then
  echo "test.sh: CI=true but no OpenCL platform could be installed" >&2
  exit 1
fi

# A second, independent OpenCL implementation (Mesa's rusticl on llvmpipe, no fp64; docs/DEVICES.md): the OpenCL
# agreement tests run on it too, under CI=true or with CLDIFF_OTHER_DEVICES=1 (about 1 minute with Mesa's shader cache
# warm, up to about 15 the first time, most of it Mesa compiling our kernels, so a newcomer's run leaves it out). Installing it adds platforms with no devices unless
# RUSTICL_ENABLE names a driver, so it changes nothing for other programs; only the rerun sets RUSTICL_ENABLE=llvmpipe.
other_devices=false
if [ "${CI:-}" = "true" ] || [ -n "${CLDIFF_OTHER_DEVICES:-}" ]; then other_devices=true; fi
have_rusticl() { [ -f /etc/OpenCL/vendors/rusticl.icd ]; }
if $other_devices && ! have_rusticl && [ "$(id -u)" = 0 ]; then
  echo "test.sh: installing Mesa's OpenCL (mesa-opencl-icd: rusticl) for the second-implementation tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq mesa-opencl-icd || { apt-get update -qq && apt-get install -y -qq mesa-opencl-icd; }; } >/dev/null
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
echo "test.sh: [${SECONDS} s] the test suite (build, then every test outside the Slow and Exhaustive categories)" >&2
run_tests "TestCategory!=Slow&TestCategory!=Exhaustive"
# The rerun on the other OpenCL implementations (below) starts now, beside the Slow category: both mostly wait on one
# core for an OpenCL compiler (PoCL's, Mesa's), so on 2 cores they take about the time of one.
other_pid=""
other_log=$(mktemp /tmp/cldiff-other-devices.XXXXXX.log)
if $other_devices; then
  echo "test.sh: [${SECONDS} s] the OpenCL agreement tests on the other OpenCL implementations (in the background; output below)" >&2
  bash tools/test-other-devices.sh >"$other_log" 2>&1 &
  other_pid=$!
  trap 'kill "$other_pid" 2>/dev/null || true' EXIT   # a failure below must not leave it running
fi
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
# The CPU kernels (managed SGEMM, SIMD exp/sin/cos, mixture scores, the MLP forward) once more as they run on machines
# without AVX-512 (the JIT told to leave it out: Vector256 paths) and without a BLAS (a library path that is not there:
# the managed SGEMM alone), under CI=true or with CLDIFF_CPU_PATHS=1. Cpu/CpuPathTests checks each run took its path.
if [ "${CI:-}" = "true" ] || [ -n "${CLDIFF_CPU_PATHS:-}" ]; then
  cpu_filter="(FullyQualifiedName~ClDiffusion.Tests.Mlp.|FullyQualifiedName~ClDiffusion.Tests.Cpu.)&TestCategory!=Slow&TestCategory!=Exhaustive"
  echo "test.sh: [${SECONDS} s] the CPU-kernel tests with AVX-512 off for the JIT (DOTNET_EnableAVX512F=0)" >&2
  DOTNET_EnableAVX512F=0 run_tests "$cpu_filter" --no-build
  echo "test.sh: [${SECONDS} s] the CPU-kernel tests without a BLAS (CLDIFF_BLAS=/nonexistent/libopenblas.so.0)" >&2
  CLDIFF_BLAS=/nonexistent/libopenblas.so.0 run_tests "$cpu_filter&TestCategory!=Blas" --no-build
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
if [ -x tools/native-test.sh ]; then echo "test.sh: [${SECONDS} s] the C ABI tests (tools/native-test.sh)" >&2; bash tools/native-test.sh; fi
# The sharded run on a real scheduler: a single-node Slurm (installed when missing, as root) runs a job array of shards
# and the dependent merge, then a run with a cancelled task resumed (tools/slurm/test-slurm.sh; about 20 s after the
# install, which took 25 s on the 2-core machine), under CI=true or with CLDIFF_SLURM_TEST=1. Not root and no Slurm
# under CI=true is a failure, not a skip.
if [ "${CI:-}" = "true" ] || [ -n "${CLDIFF_SLURM_TEST:-}" ]; then
  echo "test.sh: [${SECONDS} s] the Slurm job-array test" >&2
  bash tools/slurm/test-slurm.sh
else
  echo "test.sh: the Slurm job-array test (tools/slurm/test-slurm.sh) runs with CI=true or CLDIFF_SLURM_TEST=1"
fi
echo "test.sh: done in ${SECONDS} s"
