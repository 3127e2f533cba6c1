#!/usr/bin/env bash
# The main job, end to end on a fresh Debian 12 machine: install what is missing, build, print
# the model's summary, compile it, train it on the shipped Quora pairs, evaluate it on pairs it
# has never seen, and predict the six example pairs of the original talk.
#
#   EPOCHS (default 3), THREADS (default 2), BUILD_DIR (default build/), WORK_DIR (default
#   build/main-job) change the run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}
work=${WORK_DIR:-$build/main-job}
epochs=${EPOCHS:-3}
threads=${THREADS:-2}
model=$root/examples/quora_siamese/model.fbs

step() { printf '\n== %s\n' "$*"; }

step "Installing dependencies (only those missing)"
bash "$root/scripts/install-deps.sh"

step "Building"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target dlc
dlc=$build/tools/dlc

# The shipped pairs are in random order: the last 3,000 are kept aside for the final evaluation,
# and training holds out the last 10 % of the rest for validation, as Keras's validation_split.
mkdir -p "$work"
zcat "$root/data/quora/quora_pairs.tsv.gz" > "$work/all.tsv"
head -n 27001 "$work/all.tsv" > "$work/train.tsv"
{ head -n 1 "$work/all.tsv"; tail -n +27002 "$work/all.tsv"; } > "$work/test.tsv"

step "Summary"
"$dlc" summary "$model"

step "Compiling the training step to native code"
"$dlc" compile "$model" --training --batch 64 -v --emit ir > "$work/training.ir"
"$dlc" compile "$model" --training --batch 64 -o "$work/quora_training_step.dlc"

step "Training for $epochs epochs on $(($(wc -l < "$work/train.tsv") - 1)) pairs"
"$dlc" train "$model" --data "$work/train.tsv" --epochs "$epochs" --threads "$threads" \
  --seed 1 --out "$work/quora_trained.fbs"

step "Evaluating on $(($(wc -l < "$work/test.tsv") - 1)) held-out pairs"
"$dlc" evaluate "$work/quora_trained.fbs" --data "$work/test.tsv" --threads "$threads"

step "Predicting the six pairs of the original talk (expected: 3 duplicates, then 3 not)"
paste <("$dlc" predict "$work/quora_trained.fbs" --pairs "$root/examples/quora_siamese/talk_pairs.tsv") \
  "$root/examples/quora_siamese/talk_pairs.tsv" | awk -F'\t' '{ printf "%s  (label %s)  %s | %s\n", $1, $4, $2, $3 }'
