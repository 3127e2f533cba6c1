#!/usr/bin/env bash
# dlc against its peers on the same work: the PyTorch program and ONNX Runtime of
# ../shared/peers (README.md there), for the full-size Quora model on synthetic ids.
#
#   bash bench/compare-peers.sh            # 3 rounds, about 10 minutes
#   QUICK=1 bash bench/compare-peers.sh    # 1 round of short runs, about 2 minutes
#
# For 1 and 2 threads, each round runs every program once, one after the other (dlc, then its
# peer), so that the load of a shared machine falls on both alike; the table gives medians over
# the rounds, and the ratios are medians of the ratios within a round. Workloads: a training step
# at batch 64 with dense Adam (Keras semantics) and with lazy Adam (touched embedding rows only;
# against torch's SparseAdam), inference at batch 64, and one pair at a time (batch 1).
#
# Installs what is missing, as ../shared/peers/README.md says: python3-torch and
# libopenblas0-openmp (apt), onnxruntime-node 1.30.0 (npm, --ignore-scripts) under the build
# tree, and the ONNX model exported by the peer script. Settings (environment):
#   PEERS_DIR  the peer programs (default: ../shared/peers next to the repository)
#   BUILD_DIR  dlc's build tree (default: build); dlc_throughput is built there if missing
#   ROUNDS, RUN_SECONDS  rounds and the timed seconds of each run (defaults 3 and 4)
#   THREADS    thread counts to measure (default "1 2")
#   QUICK=1    ROUNDS=1, RUN_SECONDS=1.5
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
PEERS_DIR=$(cd "${PEERS_DIR:-$repo/../shared/peers}" && pwd)
BUILD_DIR=${BUILD_DIR:-$repo/build}
if [ "${QUICK:-0}" = 1 ]; then
  ROUNDS=${ROUNDS:-1} RUN_SECONDS=${RUN_SECONDS:-1.5}
fi
ROUNDS=${ROUNDS:-3}
RUN_SECONDS=${RUN_SECONDS:-4}
THREADS=${THREADS:-1 2}
PYTHON=/usr/bin/python3  # Debian's python: the one that sees python3-torch
peer_dir=$BUILD_DIR/peers
results=$peer_dir/results-$(date -u +%Y%m%dT%H%M%S).jsonl

# --- what the peers need -------------------------------------------------------------------
install_peers() {
  local sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  local missing=()
  for package in python3-torch libopenblas0-openmp; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$package")
  done
  # Node.js may come from elsewhere than Debian (nodesource bundles npm): look for the commands.
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  fi

  mkdir -p "$peer_dir/ortnode"
  if [ ! -d "$peer_dir/ortnode/node_modules/onnxruntime-node" ]; then
    echo "installing onnxruntime-node 1.30.0 into $peer_dir/ortnode" >&2
    (cd "$peer_dir/ortnode" && { [ -f package.json ] || npm init -y >/dev/null; } &&
      npm install --ignore-scripts --no-audit --no-fund onnxruntime-node@1.30.0 >/dev/null)
  fi
  if [ ! -f "$peer_dir/siamese_lstm.onnx" ]; then
    echo "exporting the ONNX model" >&2
    "$PYTHON" "$PEERS_DIR/torch_siamese_lstm.py" --export-onnx "$peer_dir/siamese_lstm.onnx" \
      >/dev/null 2>&1
  fi

  if [ ! -x "$BUILD_DIR/bench/dlc_throughput" ]; then
    echo "building dlc_throughput in $BUILD_DIR" >&2
    [ -f "$BUILD_DIR/CMakeCache.txt" ] ||
      cmake -S "$repo" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD_DIR" --target dlc_throughput >/dev/null
  fi
}

# --- the runs ------------------------------------------------------------------------------
# run LABEL ROUND COMMAND...: runs one program and appends its JSON line, tagged.
run() {
  local label=$1 round=$2
  shift 2
  local line
  if ! line=$("$@" 2>/dev/null | tail -1) || [ "${line:0:1}" != "{" ]; then
    echo "  $label: failed ($*)" >&2
    return 0
  fi
  printf '{"label":"%s","round":%d,"result":%s}\n' "$label" "$round" "$line" >>"$results"
  "$PYTHON" -c 'import json, sys; r = json.loads(sys.argv[2]); print("  %-18s %10.1f samples/s %9.3f ms/step" % (sys.argv[1], r["samples_per_s"], r["ms_per_step"]))' \
    "$label" "$line" >&2
}

# ceiling THREADS: this machine's ceilings as the peers' README measures them, in GFLOP/s: the
# FMA peak (its fma_peak.c: FMAs in registers, the widest vectors the CPU has) and OpenBLAS
# sgemm of two 2048 x 2048 matrices through torch (the best of 5).
ceiling() {
  [ -x "$peer_dir/fma_peak" ] ||
    gcc -O3 -march=native -fopenmp "$PEERS_DIR/fma_peak.c" -o "$peer_dir/fma_peak"
  local peak
  peak=$(OMP_NUM_THREADS=$1 "$peer_dir/fma_peak" | grep -o '[0-9.]* GFLOP/s' | sort -n | tail -1)
  OMP_NUM_THREADS=$1 "$PYTHON" - "$1" "${peak% GFLOP/s}" >>"$results" <<'PY'
import json, sys, time
import torch
threads, peak = int(sys.argv[1]), float(sys.argv[2])
torch.set_num_threads(threads)
a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
torch.mm(a, b)
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    torch.mm(a, b)
    best = min(best, time.perf_counter() - start)
print(json.dumps({"label": "ceiling", "threads": threads, "fma_peak": peak,
                  "sgemm": 2 * 2048**3 / best / 1e9}))
PY
}

dlc() { "$BUILD_DIR/bench/dlc_throughput" --seconds "$RUN_SECONDS" "$@"; }
torch() {
  "$PYTHON" "$PEERS_DIR/torch_siamese_lstm.py" --seconds "$RUN_SECONDS" --malloc-tune "$@"
}
ort() {
  NODE_PATH="$peer_dir/ortnode/node_modules" node "$PEERS_DIR/ort_siamese_infer.js" \
    "$peer_dir/siamese_lstm.onnx" "$1" "$2" "$RUN_SECONDS"
}

install_peers
echo "results: $results" >&2
for t in $THREADS; do ceiling "$t"; done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
  for t in $THREADS; do
    echo "round $round/$ROUNDS, $t thread(s)" >&2
    run "train dlc" "$round" dlc --mode train --threads "$t" --batch 64
    run "train torch" "$round" torch --mode train --threads "$t" --batch 64 --fuse-branches
    run "train-lazy dlc" "$round" dlc --mode train --threads "$t" --batch 64 --lazy-adam
    run "train-lazy torch" "$round" torch --mode train --threads "$t" --batch 64 --sparse-embedding
    run "infer64 dlc" "$round" dlc --mode infer --threads "$t" --batch 64
    run "infer64 ort" "$round" ort "$t" 64
    run "infer64 torch" "$round" torch --mode infer --threads "$t" --batch 64 --fuse-branches
    run "infer1 dlc" "$round" dlc --mode infer --threads "$t" --batch 1
    run "infer1 ort" "$round" ort "$t" 1
  done
done

# --- the table -----------------------------------------------------------------------------
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
"$PYTHON" - "$results" "$load_before" "$load_after" "$commit" <<'EOF'
import json, statistics, subprocess, sys

TRAIN_FLOPS, INFER_FLOPS = 31_457_280, 10_485_760  # per sample, ../shared/peers/README.md
lines = [json.loads(line) for line in open(sys.argv[1])]
# The ceilings measured before the rounds (GFLOP/s): the FMA peak, and OpenBLAS sgemm 2048^3.
CEILING = {line["threads"]: line["fma_peak"] for line in lines if line["label"] == "ceiling"}
SGEMM = {line["threads"]: line["sgemm"] for line in lines if line["label"] == "ceiling"}
runs = [line for line in lines if line["label"] != "ceiling"]
def per_threads(gflops):  # "266 / 533 GFLOP/s at 1 / 2 threads"
    counts = sorted(gflops)
    return (" / ".join(f"{gflops[t]:.0f}" for t in counts) + " GFLOP/s at " +
            " / ".join(map(str, counts)) + " threads")
def rates(workload, program, threads):
    found = {}
    for run in runs:
        result = run["result"]
        if run["label"] == f"{workload} {program}" and result["threads"] == threads:
            found[run["round"]] = result["samples_per_s"]
    return found

rows = [("train", "dlc", "torch", TRAIN_FLOPS, "training, batch 64, dense Adam (Keras)"),
        ("train-lazy", "dlc", "torch", TRAIN_FLOPS, "training, batch 64, lazy Adam"),
        ("infer64", "dlc", "ort", INFER_FLOPS, "inference, batch 64"),
        ("infer64", "dlc", "torch", INFER_FLOPS, "inference, batch 64"),
        ("infer1", "dlc", "ort", INFER_FLOPS, "one pair (batch 1)")]
names = {"dlc": "dlc", "torch": "PyTorch", "ort": "ONNX Runtime"}
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"],
                     capture_output=True, text=True).stdout.strip()
family = subprocess.getoutput("sed -n 's/^cpu family[^0-9]*//p;T;q' /proc/cpuinfo")
cpu += f" (family {family})" if family else ""
rounds = len({run["round"] for run in runs})
print(f"\ndlc {sys.argv[4]}; {cpu}, {subprocess.getoutput('nproc')} CPUs; load average "
      f"{sys.argv[2]} before, {sys.argv[3]} after; {rounds} round(s); medians (samples/s; ms per "
      "pair at batch 1; % of the FMA peak, " + per_threads(CEILING) +
      "; OpenBLAS sgemm 2048^3 reaches " + per_threads(SGEMM) + ")\n")
print("| workload | threads | dlc | peer | peer's figure | dlc / peer | dlc % of FMA peak "
      "| peer % of FMA peak |")
print("|---|---|---|---|---|---|---|---|")
for workload, ours, theirs, flops, title in rows:
    for threads in sorted({run["result"]["threads"] for run in runs}):
        mine, peer = rates(workload, ours, threads), rates(workload, theirs, threads)
        if not mine or not peer:
            continue
        both = sorted(set(mine) & set(peer))
        ratio = statistics.median(mine[r] / peer[r] for r in both) if both else float("nan")
        a, b = statistics.median(mine.values()), statistics.median(peer.values())
        share = lambda rate: f"{100 * rate * flops / (CEILING[threads] * 1e9):.0f} %"
        show = lambda rate: (f"{rate:,.0f}" if workload != "infer1"
                             else f"{rate:,.0f} ({1e3 / rate:.3f} ms)")
        print(f"| {title} | {threads} | {show(a)} | {names[theirs]} | {show(b)} | "
              f"**{ratio:.2f}x** | {share(a)} | {share(b)} |")

memory = [run["result"] for run in runs if run["label"] == "train dlc"]
if memory:
    last = memory[-1]
    print(f"\ndlc training step: arena {last['arena_mib']:.1f} MiB, peak RSS "
          f"{max(r['peak_rss_mib'] for r in memory):.0f} MiB, compile "
          f"{statistics.median(r['compile_s'] for r in memory):.2f} s; inference compile "
          f"{statistics.median(r['result']['compile_s'] for r in runs if r['label'] == 'infer64 dlc'):.2f} s")
EOF
