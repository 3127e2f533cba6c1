#include <fmt/format.h>
#include <fmt/ostream.h>

#include <chrono>
#include <ostream>

#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pass.h"
#include "support/error.h"

namespace dlc::passes {

const std::vector<Pass>& pipeline() {
  static const std::vector<Pass> passes = {
      {"infer-shapes", "recompute every result type from the inputs", false, false, &inferShapes},
      {"hoist-lstm-input-projection", "one product of the whole sequence with an LSTM's kernel",
       false, true, &hoistLstmInputProjection},
      {"fuse-embedding-gather", "an embedding lookup and the product reading it in one op", false,
       true, &fuseEmbeddingGather},
      {"fold-embedding-projection",
       "at inference, look up rows of table · kernel computed when weights are bound", false, true,
       &foldEmbeddingProjection},
      {"fuse-lstm-cell", "an LSTM step's gates and state updates in one op", false, true,
       &fuseLstmCell},
      {"fuse-dot-dense", "a dot product and the dense layer reading it in one op", false, true,
       &fuseDotDense},
      {"autodiff", "reverse-mode gradients of the loss for every trainable weight", true, false,
       &differentiate},
      {"fuse-dot-dense-loss",
       "a fused dot and dense layer's loss and every gradient of the step in one op", true, true,
       &fuseDotDenseLoss},
      {"combine-slice-gradients", "the gradients of a value's slices as one concat", true, true,
       &combineSliceGradients},
      {"accumulate-table-gradients", "an embedding's gradients from several lookups in one buffer",
       true, true, &accumulateTableGradients},
      {"optimizer", "the optimizer's in-place weight updates", true, false, &addOptimizerUpdates},
      {"cse", "merge ops that compute the same thing", false, false,
       &eliminateCommonSubexpressions},
      {"fuse-matmul-add", "what is added to a matrix product, summed in its kernel", false, true,
       &fuseMatMulAdd},
      {"pack-weight-panels", "a weight read by products, in contiguous blocks of columns", false,
       false, &packWeightPanels},
      {"fuse-elementwise", "chains of elementwise ops in one loop each", false, true,
       &fuseElementwise},
      {"dce", "remove ops whose results nobody uses", false, false, &eliminateDeadCode},
  };
  return passes;
}

void runPipeline(ir::Graph& graph, const PassOptions& options) {
#ifndef NDEBUG
  constexpr bool kVerifyEach = true;
#else
  constexpr bool kVerifyEach = false;
#endif
  for (const Pass& pass : pipeline()) {
    if (pass.trainingOnly && !options.training) continue;
    if (options.disabled.count(pass.name) || (pass.isFusion && options.noFusion)) {
      if (options.verbose && options.log)
        fmt::print(*options.log, "pass {}: disabled\n", pass.name);
      continue;
    }

    auto start = std::chrono::steady_clock::now();
    size_t opsBefore = graph.ops().size();
    bool changed = pass.run(graph, options);
    double milliseconds =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

    if (options.verbose && options.log)
      fmt::print(*options.log, "pass {}: {} ({} -> {} ops, {:.2f} ms)\n", pass.name,
                 changed ? "changed" : "unchanged", opsBefore, graph.ops().size(), milliseconds);
    if (kVerifyEach || options.verifyEach) {
      try {
        ir::verifyGraph(graph);
      } catch (const Error& error) {
        fail("after pass {}: {}", pass.name, error.what());
      }
    }
    if (options.printAfterAll && options.log)
      fmt::print(*options.log, "// IR after {}\n{}", pass.name, ir::printGraph(graph));
  }
}

}  // namespace dlc::passes
