// The full-size Quora model (20 ids, Embedding 50002 x 128, LSTM 128): one training step at
// batch 64 and inference at batch 1 and 64, on the JIT and on the reference executor.
#include <fmt/format.h>

#include "bench/bench_support.h"
#include "frontend/lowering.h"
#include "frontend/model_io.h"
#include "runtime/session.h"
#include "runtime/weights.h"

namespace dlc::bench {
namespace {

constexpr double kTrainingFlopsPerSample = 31457280;  // see ../shared/peers/README.md
constexpr double kInferenceFlopsPerSample = 10485760;

/// Arguments: executor, fusion on (1) or off (0), then the batch size for inference.
void runModel(benchmark::State& state, int64_t batch, bool training) {
  std::string path = std::string(DLC_SOURCE_DIR) + "/examples/quora_siamese/model.fbs";
  schema::ModelT model = loadModel(path);
  ModelAnalysis analysis = analyzeModel(model, path);
  SessionOptions options;
  options.batchSize = batch;
  options.training = training;
  options.executor = state.range(0) == kJit ? ExecutorKind::Jit : ExecutorKind::Reference;
  options.passes.noFusion = state.range(1) == 0;
  Session session(model, analysis, options);
  session.setWeights(initializeWeights(analysis, 1));

  TensorMap inputs = {{"input_question1", randomIds({batch, 20}, 50000, 1)},
                      {"input_question2", randomIds({batch, 20}, 50000, 2)}};
  if (training) {
    Tensor labels(DType::Float32, {batch, 1});
    for (int64_t i = 0; i < batch; ++i) labels.data<float>()[i] = static_cast<float>(i % 2);
    inputs[kLabelsInput] = labels;
  }
  for (auto _ : state) benchmark::DoNotOptimize(session.run(inputs));

  state.SetLabel(
      fmt::format("{}, {}", executorName(state.range(0)), state.range(1) ? "fused" : "unfused"));
  state.SetItemsProcessed(state.iterations() * batch);  // samples per second
  double flops = (training ? kTrainingFlopsPerSample : kInferenceFlopsPerSample) * batch;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_QuoraTrainingStep(benchmark::State& state) { runModel(state, 64, true); }
BENCHMARK(BM_QuoraTrainingStep)
    ->ArgsProduct({{kJit, kReference}, {1, 0}})
    ->ArgNames({"executor", "fused"})
    ->Unit(benchmark::kMillisecond);

void BM_QuoraInference(benchmark::State& state) { runModel(state, state.range(2), false); }
BENCHMARK(BM_QuoraInference)
    ->ArgsProduct({{kJit, kReference}, {1, 0}, {1, 64}})
    ->ArgNames({"executor", "fused", "batch"})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace dlc::bench
