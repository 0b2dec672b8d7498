#!/usr/bin/env bash
# The whole test suite, from a fresh machine with only the .NET SDK (and root for apt):
# installs an OpenCL platform (PoCL) when none is present, then runs the NUnit suite and the C ABI tests.
# Under CI=true a missing OpenCL platform is an error, never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

have_opencl() { [ -n "$(ls /etc/OpenCL/vendors/*.icd 2>/dev/null)" ] && ldconfig -p | grep -q libOpenCL.so; }
if ! have_opencl; then
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: no OpenCL platform; installing PoCL (pocl-opencl-icd ocl-icd-libopencl1)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq pocl-opencl-icd ocl-icd-libopencl1 clinfo >/dev/null
  else
    echo "test.sh: no OpenCL platform and not root: install with 'sudo apt-get install pocl-opencl-icd ocl-icd-libopencl1'" >&2
  fi
fi
if [ "${CI:-}" = "true" ] && ! have_opencl; then
  echo "test.sh: CI=true but no OpenCL platform could be installed" >&2
  exit 1
fi

# A second, independent OpenCL implementation (Mesa's rusticl on llvmpipe, no fp64; docs/DEVICES.md): the OpenCL
# agreement tests run on it too. Installing it adds platforms with no devices unless RUSTICL_ENABLE names a driver,
# so it changes nothing for other programs; only the rerun below sets RUSTICL_ENABLE=llvmpipe.
have_rusticl() { [ -f /etc/OpenCL/vendors/rusticl.icd ]; }
if ! have_rusticl && [ "$(id -u)" = 0 ]; then
  echo "test.sh: installing Mesa's OpenCL (mesa-opencl-icd: rusticl) for the second-implementation tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq mesa-opencl-icd || { apt-get update -qq && apt-get install -y -qq mesa-opencl-icd; }; } >/dev/null
fi
if [ "${CI:-}" = "true" ] && ! have_rusticl; then
  echo "test.sh: CI=true but Mesa's OpenCL (rusticl) could not be installed" >&2
  exit 1
fi

dotnet test ClDiffusion.sln -c Release --nologo 2>&1 | tee /tmp/cldiff-test.log
grep -qE "^(Passed|Failed)!" /tmp/cldiff-test.log

# The OpenCL agreement tests (generator, primitives, every sampler against the CPU backend, MLP kernels) once more on
# every other OpenCL device present, software renderers included (named explicitly, as a user would).
bash tools/test-other-devices.sh
if [ -x tools/native-test.sh ]; then bash tools/native-test.sh; fi
