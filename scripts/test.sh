#!/usr/bin/env bash
# Installs what is missing, builds everything (tests and benchmarks included) and runs the test
# suite with CTest. BUILD_DIR (default build-tests/) changes where.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-tests}

bash "$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build"
# Poisoned arenas: a kernel that reads a reused buffer before writing it fails the tests.
DLC_POISON_ARENA=1 ctest --test-dir "$build" --output-on-failure --timeout 900 -j 2
