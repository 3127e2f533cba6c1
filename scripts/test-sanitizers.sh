#!/usr/bin/env bash
# The test suite under AddressSanitizer and UndefinedBehaviorSanitizer (DLC_SANITIZE), in a build
# tree of its own (BUILD_DIR, default build-sanitize/), without the benchmarks. The fuzz corpus
# replays are part of the suite, so every input that once crashed a reader runs here too.
# Code that the JIT generates is not instrumented; the rest of dlc is. No suppressions are needed:
# OpenMP, OpenBLAS and LLVM report nothing in this suite (leak checking included).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-sanitize}

bash "$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLC_SANITIZE=ON \
  -DDLC_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
DLC_POISON_ARENA=1 ctest --test-dir "$build" --output-on-failure --timeout 900 -j 2
