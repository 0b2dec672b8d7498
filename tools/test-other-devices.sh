#!/usr/bin/env bash
# Reruns the OpenCL tests (tests/ClDiffusion.Tests/OpenCL: Philox, primitives, every sampler against the CPU backend,
# the mixture kernel variants; and the OpenCL classes of the scheduler, streams, faults and models) on every OpenCL device other than the one the main run used (`--device opencl`), e.g.
# Mesa's rusticl on llvmpipe (docs/DEVICES.md). Needs the test project and cldiff built in Release (tools/test.sh
# builds them). RUSTICL_ENABLE=llvmpipe is set here only, so rusticl exposes its software device to these runs.
# Under CI=true a machine with Mesa's OpenCL installed but no rusticl device listed is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTICL_ENABLE="${RUSTICL_ENABLE:-llvmpipe}"
cldiff=(dotnet tools/cldiff/bin/Release/net10.0/cldiff.dll)
# one "selector auto" line per device, from the JSON listing (no jq or python on a bare CI machine)
mapfile -t devices < <("${cldiff[@]}" devices --json | grep -E '"(selector|auto)":' | sed -E 's/.*": "?([^",]*)"?,?/\1/' | paste -d' ' - -)
# agreement only: the benchmarks and the end-to-end MLP sampling runs (minutes per run on llvmpipe, where every
# launch is compiled again) stay with the main run
# Every test that runs on the OpenCL device under test: the OpenCL namespace (Slow too with CLDIFF_SLOW_TESTS: the
# mixture kernel variants) and the OpenCL classes elsewhere (scheduler, streams, faults, non-finite guard, host models, guided
# scheduling, picard batches); the Exhaustive category (MLP kernel matrices, tuner runs) stays with CLDIFF_SLOW_TESTS.
classes="SchedulerOpenClTests|OpenClStreamTests|OpenClFaultInjectionTests|NonFiniteOpenClTests|HostScoreOpenClTests|GuidedSchedulingTests|PicardBatchTests"
scope="(FullyQualifiedName~ClDiffusion.Tests.OpenCL|$(sed -E 's/([A-Za-z]+)/FullyQualifiedName~.\1./g' <<<"$classes"))"
# Left to the main run: AnEngineOverCpuAndOpenCl... asserts that both devices took chunks, which is a property of the
# schedule, not of the device: beside the Slow category, llvmpipe (which compiles each launch again) lost every chunk
# to the CPU in one run.
filter="$scope&Name!~KernelBench&Name!~BenchRuns&Name!~SerialAgainstPipelined&Name!~AnEngineOverCpuAndOpenCl&FullyQualifiedName!~Checkerboard&TestCategory!=Exhaustive"
# The Slow category (the mixture kernel variants: row kernels, reciprocal paths) on the other implementations only with
# CLDIFF_SLOW_TESTS=1: under CI=true the main run checks them on PoCL, and Mesa compiling every variant again competes
# for the two cores with the rest of a fresh machine's CI=true run (486-495 s measured, 2026-12-07, over the 8 minutes).
if [ -z "${CLDIFF_SLOW_TESTS:-}" ]; then filter="$filter&TestCategory!=Slow"; fi
ran=0
for line in "${devices[@]}"; do
  sel=${line% *}
  # the main run took `--device opencl`, which is the device auto marks whenever there is one
  [ "${line#* }" = "true" ] && continue
  echo "test-other-devices: OpenCL agreement tests on $sel"
  log=$(mktemp "/tmp/cldiff-test-${sel//:/_}.XXXXXX.log")
  CLDIFF_TEST_DEVICE="$sel" dotnet test tests/ClDiffusion.Tests -c Release --no-build --nologo \
    --filter "$filter" >"$log" 2>&1 || true
  grep -E "^(Passed|Failed)!|^\s+Failed " "$log" || true
  grep -qE "^Passed!" "$log"
  ran=$((ran + 1))
done
if [ "${CI:-}" = "true" ] && [ -f /etc/OpenCL/vendors/rusticl.icd ] && [ "$ran" -eq 0 ]; then
  echo "test-other-devices: CI=true and rusticl installed, but no second OpenCL device was listed" >&2
  exit 1
fi
echo "test-other-devices: $ran other device(s) checked"
