// What each fusion pass buys on the full-size Quora model (batch 64, the JIT): a training step
// and inference with every pass on, with one fusion pass turned off, and with --no-fusion.
// Run with --benchmark_filter=QuoraFusion.
#include <fmt/format.h>

#include "bench/bench_support.h"
#include "frontend/lowering.h"
#include "frontend/model_io.h"
#include "runtime/session.h"
#include "runtime/weights.h"

namespace dlc::bench {
namespace {

constexpr int64_t kBatch = 64;

/// The fusion passes in pipeline order.
std::vector<std::string> fusionPasses() {
  std::vector<std::string> names;
  for (const passes::Pass& pass : passes::pipeline())
    if (pass.isFusion) names.push_back(pass.name);
  return names;
}

/// Variant 0: every pass; 1..k: without the k-th fusion pass; k + 1: without any.
std::string variantName(int64_t variant) {
  std::vector<std::string> names = fusionPasses();
  if (variant == 0) return "all passes";
  if (variant > static_cast<int64_t>(names.size())) return "--no-fusion";
  return "without " + names[variant - 1];
}

void runVariant(benchmark::State& state, bool training) {
  std::string path = std::string(DLC_SOURCE_DIR) + "/examples/quora_siamese/model.fbs";
  schema::ModelT model = loadModel(path);
  ModelAnalysis analysis = analyzeModel(model, path);
  SessionOptions options;
  options.batchSize = kBatch;
  options.training = training;
  int64_t variant = state.range(0);
  std::vector<std::string> names = fusionPasses();
  if (variant > static_cast<int64_t>(names.size()))
    options.passes.noFusion = true;
  else if (variant > 0)
    options.passes.disabled.insert(names[variant - 1]);
  Session session(model, analysis, options);
  session.setWeights(initializeWeights(analysis, 1));

  TensorMap inputs = {{"input_question1", randomIds({kBatch, 20}, 50000, 1)},
                      {"input_question2", randomIds({kBatch, 20}, 50000, 2)}};
  if (training) {
    Tensor labels(DType::Float32, {kBatch, 1});
    for (int64_t i = 0; i < kBatch; ++i) labels.data<float>()[i] = static_cast<float>(i % 2);
    inputs[kLabelsInput] = labels;
  }
  // The first run binds the weights (and computes a folded embedding): not what is measured.
  session.run(inputs);
  for (auto _ : state) benchmark::DoNotOptimize(session.run(inputs));
  state.SetLabel(variantName(variant));
  state.SetItemsProcessed(state.iterations() * kBatch);  // samples per second
}

void BM_QuoraFusionTrainingStep(benchmark::State& state) { runVariant(state, true); }
void BM_QuoraFusionInference(benchmark::State& state) { runVariant(state, false); }

void variants(benchmark::internal::Benchmark* benchmark) {
  for (int64_t variant = 0; variant <= static_cast<int64_t>(fusionPasses().size()) + 1; ++variant)
    benchmark->Arg(variant);
  benchmark->ArgName("variant")->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_QuoraFusionTrainingStep)->Apply(variants);
BENCHMARK(BM_QuoraFusionInference)->Apply(variants);

}  // namespace
}  // namespace dlc::bench
