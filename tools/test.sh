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
# OpenBLAS for the CPU backend's MLP (loaded at run time; without it the managed SGEMM runs alone, and under CI=true
# the BLAS tests fail rather than skip)
have_blas() { ldconfig -p | grep -q 'libopenblas\.so\.0'; }
if ! have_blas && [ "$(id -u)" = 0 ]; then
  echo "test.sh: no OpenBLAS; installing libopenblas0-pthread" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq libopenblas0-pthread || { apt-get update -qq && apt-get install -y -qq libopenblas0-pthread; }; } >/dev/null
fi
if [ "${CI:-}" = "true" ] && ! have_opencl; then
  echo "test.sh: CI=true but no OpenCL platform could be installed" >&2
  exit 1
fi

dotnet test ClDiffusion.sln -c Release --nologo 2>&1 | tee /tmp/cldiff-test.log
grep -qE "^(Passed|Failed)!" /tmp/cldiff-test.log
if [ -x tools/native-test.sh ]; then bash tools/native-test.sh; fi
