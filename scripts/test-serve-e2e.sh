#!/usr/bin/env bash
# `dlc serve` end to end, run by .ci/run after the test suite: trains the showcase model for a
# few steps, serves it on a free loopback port, opens its page in headless Chromium (fills both
# questions, clicks, reads the probability: scripts/serve_e2e.py), puts it under a bounded load
# (8 clients, 4,000 requests: scripts/serve_load_test.py), then stops it with SIGTERM and checks
# that it stopped cleanly and logged every request. Installs Chromium and ChromeDriver if missing.
#
#   BUILD_DIR (default build-tests/) is where dlc is built; REQUESTS (default 4000) and
#   SCREENSHOT (a PNG path, default none) change the run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-tests}
requests=${REQUESTS:-4000}
dlc=$build/tools/dlc

bash "$root/scripts/install-deps.sh" chromium chromium-driver python3
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" --target dlc

work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -KILL "$server"; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== serve e2e: training the showcase model for 20 steps"
# (sed rather than head: head would end zcat with SIGPIPE, a failure under pipefail)
zcat "$root/data/quora/quora_pairs.tsv.gz" | sed -n "1,3001p" > "$work/pairs.tsv"
"$dlc" train "$root/examples/quora_siamese/model.fbs" --data "$work/pairs.tsv" --steps 20 \
  --seed 1 --out "$work/trained.fbs" > "$work/train.log"

echo "== serve e2e: dlc serve on a free port"
"$dlc" serve "$work/trained.fbs" --port 0 > "$work/serve.log" 2>&1 &
server=$!
port=
for _ in $(seq 600); do
  port=$(sed -n 's|.* on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$work/serve.log" | head -n 1)
  [ -n "$port" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "serve e2e: FAILED: dlc serve did not start" >&2
  cat "$work/serve.log" >&2
  exit 1
fi
head -n 1 "$work/serve.log"

passed=0
echo "== serve e2e: the page in headless Chromium"
python3 "$root/scripts/serve_e2e.py" --port "$port" ${SCREENSHOT:+--screenshot "$SCREENSHOT"}
passed=$((passed + 1))

echo "== serve e2e: load test on loopback"
python3 "$root/scripts/serve_load_test.py" --port "$port" --clients 8 --requests "$requests"
passed=$((passed + 1))

echo "== serve e2e: SIGTERM stops it cleanly"
kill -TERM "$server"
status=0
wait "$server" || status=$?
server=
logged=$(grep -c ' POST /v1/predict [0-9]* [0-9.]* ms$' "$work/serve.log" || true)
if [ "$status" -ne 0 ] || ! grep -q '^dlc serve: stopped$' "$work/serve.log" ||
  [ "$logged" -lt "$requests" ]; then
  echo "serve e2e: FAILED: exit status $status, $logged of at least $requests requests logged" >&2
  tail -n 20 "$work/serve.log" >&2
  exit 1
fi
echo "dlc serve stopped with status 0 and logged $logged prediction requests"
passed=$((passed + 1))

echo "serve-e2e: $passed passed, 0 failed"
