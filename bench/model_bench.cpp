// The full-size Quora model (20 ids, Embedding 50002 x 128, LSTM 128): one training step at
// batch 64 (exact or lazy Adam) and inference at batch 1 and 64, on 1 or 2 threads, on the JIT
// (tiled products or all through BLAS) and on the reference executor.
#include <fmt/format.h>

#include "bench/bench_support.h"
#include "codegen/jit.h"
#include "frontend/lowering.h"
#include "frontend/model_io.h"
#include "runtime/session.h"
#include "runtime/weights.h"

namespace dlc::bench {
namespace {

constexpr double kTrainingFlopsPerSample = 31457280;  // see ../shared/peers/README.md
constexpr double kInferenceFlopsPerSample = 10485760;

/// Arguments: executor, fusion on (1) or off (0), threads, then the batch size for inference
/// or, for training, lazy Adam (1) or exact Keras Adam (0).
void runModel(benchmark::State& state, int64_t batch, bool training) {
  std::string path = std::string(DLC_SOURCE_DIR) + "/examples/quora_siamese/model.fbs";
  schema::ModelT model = loadModel(path);
  bool lazy = training && state.range(3) != 0;
  if (lazy) model.training->optimizer->lazy_embedding_updates = true;
  codegen::setThreadCount(static_cast<int>(state.range(2)));
  ModelAnalysis analysis = analyzeModel(model, path);
  SessionOptions options;
  options.batchSize = batch;
  options.training = training;
  options.executor = state.range(0) == kReference ? ExecutorKind::Reference : ExecutorKind::Jit;
  options.jit = jitOptions(state.range(0));
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

  state.SetLabel(fmt::format("{}, {}, {} thread(s){}", executorName(state.range(0)),
                             state.range(1) ? "fused" : "unfused", state.range(2),
                             lazy ? ", lazy Adam" : ""));
  codegen::setThreadCount(1);
  state.SetItemsProcessed(state.iterations() * batch);  // samples per second
  double flops = (training ? kTrainingFlopsPerSample : kInferenceFlopsPerSample) * batch;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_QuoraTrainingStep(benchmark::State& state) { runModel(state, 64, true); }
BENCHMARK(BM_QuoraTrainingStep)
    ->ArgsProduct({{kJit}, {1, 0}, {1, 2}, {0, 1}})
    ->ArgsProduct({{kJitBlas}, {1}, {1, 2}, {0}})
    ->ArgsProduct({{kReference}, {1, 0}, {1}, {0}})
    ->ArgNames({"executor", "fused", "threads", "lazy"})
    ->Unit(benchmark::kMillisecond);

void BM_QuoraInference(benchmark::State& state) { runModel(state, state.range(3), false); }
BENCHMARK(BM_QuoraInference)
    ->ArgsProduct({{kJit}, {1, 0}, {1, 2}, {1, 64}})
    ->ArgsProduct({{kJitBlas}, {1}, {1, 2}, {1, 64}})
    ->ArgsProduct({{kReference}, {1, 0}, {1}, {1, 64}})
    ->ArgNames({"executor", "fused", "threads", "batch"})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace dlc::bench
