// dlc_throughput: trains or serves the example model on synthetic token ids and prints one JSON
// line, in the shape the PyTorch and ONNX Runtime peers print (../shared/peers/), so that
// bench/compare-peers.sh reads all three alike.
//
//   dlc_throughput --mode train --threads 2 --batch 64 --seconds 5
//   dlc_throughput --mode infer --threads 1 --batch 1 --steps 2000
#include <fmt/format.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "frontend/lowering.h"
#include "frontend/model_io.h"
#include "ir/ops.h"
#include "runtime/session.h"
#include "runtime/trainer.h"
#include "runtime/weights.h"
#include "support/error.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string model = std::string(DLC_SOURCE_DIR) + "/examples/quora_siamese/model.fbs";
  std::string mode = "train";
  int threads = 1;
  int64_t batch = 64;
  int64_t steps = 0;     // timed steps; 0: as many as fit in `seconds`
  double seconds = 5;    // with steps = 0
  int64_t warmup = 10;   // untimed steps first
  uint64_t seed = 1234;  // of the synthetic ids and labels
  bool noFusion = false;
  std::vector<std::string> disabledPasses;
  bool lazyAdam = false;
  bool profile = false;  // time every op, print the costliest kinds to stderr
};

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// CPU time of all the process's threads: on a shared machine, less noisy than wall time.
double processCpuSeconds() {
  timespec time{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time);
  return static_cast<double>(time.tv_sec) + 1e-9 * static_cast<double>(time.tv_nsec);
}

/// A pool of batches generated up front and cycled, as the peers do, so that no random number
/// generation is timed: ids uniform in [1, rows), labels 0 or 1.
std::vector<dlc::TensorMap> makeBatches(const dlc::ir::Graph& graph, const Options& options) {
  std::mt19937_64 generator(options.seed);
  std::vector<dlc::TensorMap> pool(16);
  for (dlc::TensorMap& batch : pool) {
    for (dlc::ir::ValueId id : graph.valuesOfKind(dlc::ir::ValueKind::Input)) {
      const dlc::ir::Value& value = graph.value(id);
      dlc::Tensor tensor(value.type.dtype, value.type.shape);
      if (value.type.dtype == dlc::DType::Int32) {
        std::uniform_int_distribution<int32_t> ids(1, 50001);
        for (int32_t& element : tensor.data<int32_t>()) element = ids(generator);
      } else {
        std::bernoulli_distribution label(0.5);
        for (float& element : tensor.data<float>()) element = label(generator) ? 1.0f : 0.0f;
      }
      batch[value.name] = std::move(tensor);
    }
  }
  return pool;
}

/// The time per step of each kind of op (kind and result shape), costliest first, on stderr.
void printProfile(const dlc::ir::Graph& graph, int64_t steps) {
  std::map<std::string, std::pair<double, int>> byKind;
  const std::vector<double>& seconds = dlc::codegen::opProfile();
  double total = 0;
  for (size_t index = 0; index < seconds.size(); ++index) {
    const dlc::ir::Op& op = graph.ops()[index];
    std::string key(dlc::ir::opName(op.kind));
    if (op.result != dlc::ir::kNoValue)
      key += " " + dlc::ir::formatType(graph.type(op.result));
    else
      key += " " + dlc::ir::formatType(graph.type(op.operands[0]));
    byKind[key].first += seconds[index];
    byKind[key].second += 1;
    total += seconds[index];
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> sorted(byKind.begin(), byKind.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  fmt::print(stderr, "{:>9} {:>6} {:>5}  op (per step)\n", "ms", "share", "ops");
  for (const auto& [key, entry] : sorted)
    fmt::print(stderr, "{:9.3f} {:5.1f}% {:5}  {}\n", 1e3 * entry.first / steps,
               100 * entry.first / total, entry.second, key);
  fmt::print(stderr, "{:9.3f} ms per step in ops\n", 1e3 * total / steps);
}

nlohmann::json measure(const Options& options) {
  if (options.mode != "train" && options.mode != "infer")
    dlc::fail("--mode must be train or infer, got '{}'", options.mode);
  bool training = options.mode == "train";
  dlc::setThreadCount(options.threads);

  auto setupStart = Clock::now();
  dlc::schema::ModelT model = dlc::loadModel(options.model);
  if (options.lazyAdam) {
    if (!model.training) model.training = std::make_unique<dlc::schema::TrainingT>();
    if (!model.training->optimizer)
      model.training->optimizer = std::make_unique<dlc::schema::OptimizerT>();
    model.training->optimizer->lazy_embedding_updates = true;
  }
  dlc::ModelAnalysis analysis = dlc::analyzeModel(model, options.model);
  dlc::SessionOptions sessionOptions;
  sessionOptions.batchSize = options.batch;
  sessionOptions.training = training;
  sessionOptions.passes.noFusion = options.noFusion;
  sessionOptions.passes.disabled.insert(options.disabledPasses.begin(),
                                        options.disabledPasses.end());
  sessionOptions.jit.profile = options.profile;
  dlc::Session session(model, analysis, sessionOptions);
  session.setWeights(dlc::initializeWeights(analysis, 1));
  double setupSeconds = secondsSince(setupStart);

  std::vector<dlc::TensorMap> pool = makeBatches(session.graph(), options);
  for (int64_t step = 0; step < options.warmup; ++step) session.run(pool[step % pool.size()]);

  // Without a step count, time one step more each round until `seconds` have passed.
  auto start = Clock::now();
  double cpuStart = processCpuSeconds();
  int64_t steps = 0;
  while (options.steps > 0 ? steps < options.steps : secondsSince(start) < options.seconds)
    session.run(pool[steps++ % pool.size()]);
  double elapsed = secondsSince(start);
  double cpuSeconds = processCpuSeconds() - cpuStart;
  if (options.profile) printProfile(session.graph(), options.warmup + steps);

  int64_t parameters = 0;
  for (const auto& [name, weight] : session.weights())
    parameters += dlc::numElements(weight.shape());
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const dlc::codegen::CompiledGraph* compiled = session.compiledGraph();
  return {{"framework", "dlc"},
          {"mode", options.mode},
          {"threads", options.threads},
          {"batch", options.batch},
          {"samples_per_s", static_cast<double>(steps * options.batch) / elapsed},
          {"ms_per_step", 1e3 * elapsed / static_cast<double>(steps)},
          {"cpu_ms_per_step", 1e3 * cpuSeconds / static_cast<double>(steps)},
          {"steps", steps},
          {"elapsed_s", elapsed},
          {"params", parameters},
          {"lazy_adam", options.lazyAdam},
          {"fusion", !options.noFusion},
          {"setup_s", setupSeconds},
          {"compile_s", compiled ? compiled->compileSeconds() : 0.0},
          {"arena_mib", compiled ? compiled->memoryPlan().arenaBytes / 1048576.0 : 0.0},
          {"peak_rss_mib", static_cast<double>(usage.ru_maxrss) / 1024.0}};
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app("Times the example model on synthetic ids; prints one JSON line", "dlc_throughput");
  app.add_option("--model", options.model, "model file");
  app.add_option("--mode", options.mode, "train (one step: forward, backward, Adam) or infer");
  app.add_option("--threads", options.threads, "threads of the runtime")->check(CLI::Range(1, 64));
  app.add_option("--batch", options.batch, "batch size")->check(CLI::Range(1, 1 << 20));
  app.add_option("--steps", options.steps, "timed steps (default: as many as fit in --seconds)");
  app.add_option("--seconds", options.seconds, "length of the timed loop");
  app.add_option("--warmup", options.warmup, "untimed steps first");
  app.add_option("--seed", options.seed, "seed of the synthetic ids and labels");
  app.add_flag("--no-fusion", options.noFusion, "run none of the fusion passes");
  app.add_option("--disable-pass", options.disabledPasses, "a pass not to run (repeatable)");
  app.add_flag("--lazy-adam", options.lazyAdam,
               "lazy Adam for the embedding: only the rows a batch uses move (not Keras)");
  app.add_flag("--profile", options.profile, "time every op; print the costliest to stderr");
  CLI11_PARSE(app, argc, argv);
  try {
    fmt::print("{}\n", measure(options).dump());
  } catch (const dlc::Error& error) {
    fmt::print(stderr, "dlc_throughput: error: {}\n", error.what());
    return 1;
  }
  return 0;
}
