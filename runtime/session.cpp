#include "runtime/session.h"

#include "codegen/memory_plan.h"
#include "frontend/lowering.h"
#include "runtime/jit_executor.h"
#include "runtime/reference_executor.h"
#include "support/error.h"
#include "support/memory_limit.h"

namespace dlc {

namespace {

/// The bytes an executor holds for `graph`'s tensors, INT64_MAX past 63 bits: the reference
/// executor gives every tensor bytes of its own; the JIT (given its options) holds the inputs,
/// weights and state, and one arena where results with disjoint lifetimes share bytes (a
/// training step of a large batch needs 20 times less than its tensors' sum). The plan is made
/// only when the sum would not fit.
int64_t executorBytes(const ir::Graph& graph, const codegen::JitOptions* jit) {
  int64_t all = 0, outsideArena = 0;
  for (ir::ValueId id = 0; id < graph.valueCount(); ++id) {
    int64_t bytes = tensorBytes(graph.type(id).shape, graph.type(id).dtype).value_or(INT64_MAX);
    all = saturatingAdd(all, bytes);
    if (graph.value(id).kind != ir::ValueKind::Result)
      outsideArena = saturatingAdd(outsideArena, bytes);
  }
  if (!jit || all <= memoryLimit() || all == INT64_MAX) return all;
  return saturatingAdd(outsideArena, codegen::planMemory(graph, jit->reuseMemory).arenaBytes);
}

}  // namespace

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

  // Refuse a graph whose tensors would not fit before an executor allocates them.
  bool jit = options.executor == ExecutorKind::Jit;
  checkMemory(executorBytes(graph_, jit ? &options.jit : nullptr),
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
