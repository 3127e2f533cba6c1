#!/usr/bin/env bash
# Builds every libFuzzer target of fuzz/ with clang (DLC_FUZZ, in BUILD_DIR, default build-fuzz/)
# and runs each for FUZZ_SECONDS (default 10) from its seed corpus in fuzz/corpus/<target>/.
# Inputs found to reach new code are kept in BUILD_DIR/corpus/ for the next run; the seeds are not
# touched. A crash, a sanitizer report, a timeout or a memory blow-up fails the script and leaves
# its input in BUILD_DIR/crashes/<target>/: fix the bug and add the input to fuzz/corpus/<target>/,
# where the CTest test fuzz_corpus.<target> replays it in every build from then on.
# FUZZ_SEED (default 1) fixes libFuzzer's mutations, so that a run is repeatable: a slower machine
# tries a prefix of what a faster one tried. FUZZ_SEED=0 picks a new seed each run, to explore.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-10}
seed=${FUZZ_SEED:-1}

bash "$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DDLC_FUZZ=ON \
  -DDLC_BUILD_TESTS=OFF -DDLC_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" --target dlc_fuzzers

export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for target in "$build"/fuzz/*_fuzzer; do
  name=$(basename "$target")
  mkdir -p "$build/corpus/$name" "$build/crashes/$name"
  echo "fuzzing $name for ${seconds}s"
  if ! "$target" -seed="$seed" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$build/crashes/$name/" \
    "$build/corpus/$name" "$root/fuzz/corpus/$name" 2>"$build/$name.log"; then
    tail -n 60 "$build/$name.log"
    echo "fuzz: $name failed; its input is in $build/crashes/$name/"
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|new_units_added)' "$build/$name.log" | tr '\n' ' '
  echo
done
