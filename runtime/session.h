// A model made ready to run: lowered for one batch size, optimized by the pass pipeline, and
// bound to its weights (and, when training, the optimizer's state) on an executor.
#pragma once

#include <functional>
#include <memory>

#include "codegen/jit.h"
#include "frontend/layers.h"
#include "ir/graph.h"
#include "passes/pass.h"
#include "runtime/executor.h"

namespace dlc {

/// The JIT compiles the graph to native code; the reference executor interprets it (the oracle).
enum class ExecutorKind { Jit, Reference };

struct SessionOptions {
  int64_t batchSize = 64;
  /// Adds the loss, its gradients and the optimizer's updates: each run is one training step.
  bool training = false;
  /// With training: also return "grad/<weight>" outputs.
  bool keepGradients = false;
  /// With training but no optimizer: the loss and gradients only, weights untouched.
  bool withOptimizer = true;
  ExecutorKind executor = ExecutorKind::Jit;
  codegen::JitOptions jit;
  /// Lowering: LoweringOptions::stackSharedCalls.
  bool stackSharedCalls = true;
  passes::PassOptions passes;  // training, optimizer and keepGradientOutputs are set from above
  /// With the JIT: code compiled earlier for the graph (a compiled model file), or nullptr to
  /// compile it now.
  std::function<std::unique_ptr<codegen::CompiledGraph>(const ir::Graph&)> loadCode;
};

class Session {
 public:
  Session(const schema::ModelT& model, const ModelAnalysis& analysis,
          const SessionOptions& options);

  const ir::Graph& graph() const { return graph_; }
  int64_t batchSize() const { return options_.batchSize; }

  void setWeights(const TensorMap& weights);
  TensorMap weights() const;

  /// Optimizer slots and the step counter, to checkpoint and resume training exactly.
  void setOptimizerState(const TensorMap& state);
  TensorMap optimizerState() const;

  TensorMap run(const TensorMap& inputs) { return executor_->run(inputs); }

  /// The native code the graph runs as; nullptr on the reference executor.
  const codegen::CompiledGraph* compiledGraph() const;

 private:
  SessionOptions options_;
  ir::Graph graph_;
  std::unique_ptr<Executor> executor_;
};

}  // namespace dlc
