#include "runtime/session.h"

#include "frontend/lowering.h"
#include "runtime/jit_executor.h"
#include "runtime/reference_executor.h"
#include "support/error.h"
#include "support/memory_limit.h"

namespace dlc {

Session::Session(const schema::ModelT& model, const ModelAnalysis& analysis,
                 const SessionOptions& options)
    : options_(options),
      graph_(lowerModel(model, analysis,
                        {options.batchSize, options.training, options.stackSharedCalls})) {
  passes::PassOptions passOptions = options.passes;
  passOptions.training = options.training;
  passOptions.keepGradientOutputs = options.keepGradients;
  if (model.training && model.training->optimizer)
    passOptions.optimizer = *model.training->optimizer;
  if (options.training && !options.withOptimizer) passOptions.disabled.insert("optimizer");
  passes::runPipeline(graph_, passOptions);

  // Refuse a graph whose tensors would not fit before an executor allocates them. An upper bound
  // for the JIT, whose memory plan lets buffers with disjoint lifetimes share bytes.
  int64_t graphBytes = 0;
  for (ir::ValueId id = 0; id < graph_.valueCount(); ++id)
    graphBytes = saturatingAdd(
        graphBytes, tensorBytes(graph_.type(id).shape, graph_.type(id).dtype).value_or(INT64_MAX));
  checkMemory(graphBytes,
              fmt::format("{}: the {} graph for batch {}", analysis.source,
                          options.training ? "training" : "inference", options.batchSize));

  if (options.executor == ExecutorKind::Jit) {
    auto code = options.loadCode ? options.loadCode(graph_) : nullptr;
    executor_ = code ? std::make_unique<JitExecutor>(graph_, std::move(code))
                     : std::make_unique<JitExecutor>(graph_, options.jit);
  } else {
    executor_ = std::make_unique<ReferenceExecutor<float>>(graph_);
  }
}

const codegen::CompiledGraph* Session::compiledGraph() const {
  auto* jit = dynamic_cast<const JitExecutor*>(executor_.get());
  return jit ? &jit->compiled() : nullptr;
}

void Session::setWeights(const TensorMap& weights) {
  for (const auto& [name, tensor] : weights) executor_->setTensor(name, tensor);
}

TensorMap Session::weights() const {
  TensorMap weights;
  for (ir::ValueId id : graph_.valuesOfKind(ir::ValueKind::Weight))
    weights[graph_.value(id).name] = executor_->getTensor(graph_.value(id).name);
  return weights;
}

void Session::setOptimizerState(const TensorMap& state) {
  for (const auto& [name, tensor] : state) {
    ir::ValueId id = graph_.findNamed(name);
    if (id == ir::kNoValue || graph_.value(id).kind != ir::ValueKind::State)
      fail("the optimizer state '{}' does not belong to this model and optimizer", name);
    executor_->setTensor(name, tensor);
  }
}

TensorMap Session::optimizerState() const {
  TensorMap state;
  for (ir::ValueId id : graph_.valuesOfKind(ir::ValueKind::State))
    state[graph_.value(id).name] = executor_->getTensor(graph_.value(id).name);
  return state;
}

}  // namespace dlc
