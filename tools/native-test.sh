#!/usr/bin/env bash
# Builds and tests the C ABI (issue 7):
#   1. publishes the NativeAOT library:  dotnet publish src/ClDiffusion.Native -r linux-x64 -c Release -o out/native
#      and fails if the AOT compiler reports trimming/AOT warnings for the library (IL2xxx/IL3xxx);
#   2. writes reference samples with the managed API (native/reference) for the ABI-vs-.NET comparison;
#   3. configures and builds native/ (example host + C tests) into native/build with CMake;
#   4. runs ctest --output-on-failure.
# Works on a fresh Debian machine with the .NET SDK: when run as root it apt-get installs what is missing
# (cmake, make, gcc, binutils for objcopy, libc6-dev, godot3-server for the Godot plugin's test). NativeAOT on .NET 10 links its own bundled zlib, so
# zlib1g-dev is not needed; it needs a C compiler driver (clang or gcc) and objcopy.
#
# Environment: CLD_VALGRIND=1 installs valgrind if missing and runs the host under memcheck (slow: the host also
# initialises OpenCL under valgrind, many minutes on 2 cores), so it is off by default; AddressSanitizer and
# LeakSanitizer (the asan_* tests) are the leak check CI runs (see native/README.md);
# CLD_SKIP_REFERENCE=1 skips step 2 (the comparison with .NET then only checks the ABI against itself);
# CLD_ALLOW_AOT_WARNINGS=1 reports AOT warnings without failing; CLD_PUBLISHED=1 skips step 1's publish when the caller
# (tools/test.sh) has just published this tree's library into out/native with its log in out/native-publish.log.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '\n== %s\n' "$*"; }

# --- prerequisites ---------------------------------------------------------------------------------
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v make >/dev/null 2>&1 || missing+=(make)
if ! command -v clang >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then missing+=(gcc); fi
command -v objcopy >/dev/null 2>&1 || missing+=(binutils)
[ -e /usr/include/stdio.h ] || missing+=(libc6-dev)
if [ "${CLD_VALGRIND:-0}" = 1 ] && ! command -v valgrind >/dev/null 2>&1; then missing+=(valgrind); fi
# the headless Godot engine of the godot test (examples/godot/run.sh): installed when root, else that test is skipped
# (exit 77), or fails under CI=true
if ! command -v godot3-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    missing+=(godot3-server)
  else
    echo "native-test: godot3-server not found (apt-get install godot3-server): the godot test is skipped, or fails under CI=true" >&2
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "native-test: missing ${missing[*]} (run as root to apt-get install them)" >&2
    exit 1
  fi
fi
command -v dotnet >/dev/null 2>&1 || { echo "native-test: the .NET SDK (dotnet) is required" >&2; exit 1; }

# --- 1. publish -------------------------------------------------------------------------------------
# CLD_PUBLISHED=1: tools/test.sh already published this tree's library (out/native, its log out/native-publish.log)
if [ "${CLD_PUBLISHED:-0}" = 1 ] && [ -f out/native-publish.log ]; then
  say "using the library tools/test.sh published (out/native)"
else
  say "dotnet publish src/ClDiffusion.Native -r linux-x64 -c Release -o out/native"
  mkdir -p out
  dotnet publish src/ClDiffusion.Native -r linux-x64 -c Release -o out/native 2>&1 | tee out/native-publish.log
fi
[ -f out/native/libcldiffusion.so ] || { echo "native-test: out/native/libcldiffusion.so was not produced" >&2; exit 1; }
# Warnings the AOT compiler raises for code that is actually compiled into the library are reported against
# ClDiffusion.Native.csproj (the library project's own analyzers report against ClDiffusion.csproj).
# Silk.NET's native-library resolver asks for assembly file paths (IL3000/IL3002: "single-file" warnings); under
# NativeAOT those lookups return empty and Silk falls back to loading libOpenCL.so.1 by name, which the
# device tests below exercise, so exactly those warnings from Silk.NET's loader are accepted.
aot_warnings="$(grep -E 'warning IL[23][0-9]{3}' out/native-publish.log | grep -F 'ClDiffusion.Native.csproj]' \
  | grep -vE 'warning IL300[02]: (Silk\.NET\.Core\.Loader\.DefaultPathResolver|Microsoft\.Extensions\.DependencyModel\.DependencyContext)' | sort -u || true)"
if [ -n "$aot_warnings" ]; then
  echo "native-test: trimming/AOT warnings in the published library:" >&2
  echo "$aot_warnings" >&2
  [ "${CLD_ALLOW_AOT_WARNINGS:-0}" = 1 ] || exit 1
else
  echo "native-test: no trimming/AOT warnings in the published library"
fi

# --- 2. reference samples from the .NET API ---------------------------------------------------------
ref_args=()
if [ "${CLD_SKIP_REFERENCE:-0}" != 1 ]; then
  say "reference samples (SampleRun.Run, CPU backend)"
  dotnet run --project native/reference -c Release -- native/examples/target2d.json "$ROOT/native/build/reference"
  ref_args=(-DCLD_REFERENCE_DIR="$ROOT/native/build/reference")
else
  ref_args=(-DCLD_REFERENCE_DIR=)
fi

# --- 2b. the cldiff CLI, which the settings_by_name test runs to compare its samples with the C ABI's ---------
say "dotnet build tools/cldiff -c Release"
dotnet build tools/cldiff -c Release -v quiet -nologo

# --- 3. build ---------------------------------------------------------------------------------------
say "cmake configure + build (native/build)"
valgrind_args=(-DCLD_VALGRIND=OFF)
if [ "${CLD_VALGRIND:-0}" = 1 ]; then
  valgrind_args=(-DCLD_VALGRIND=ON)
fi
cmake -S native -B native/build -DCLD_LIB_DIR="$ROOT/out/native" "${ref_args[@]}" "${valgrind_args[@]}"
cmake --build native/build -j "$(nproc 2>/dev/null || echo 2)"

# --- 4. test ----------------------------------------------------------------------------------------
say "ctest"
cd native/build
ctest --output-on-failure
