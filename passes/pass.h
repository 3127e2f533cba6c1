// Passes over the IR and the one pipeline that orders them.
#pragma once

#include <functional>
#include <iosfwd>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "schema/dlc_model_generated.h"

namespace dlc::passes {

struct PassOptions {
  /// Build the training graph: gradients of the "loss" output and the optimizer's updates.
  bool training = false;
  /// Optimizer and its hyperparameters; Keras's Adam defaults when absent.
  schema::OptimizerT optimizer;
  /// Keep the "grad/<weight>" outputs that autodiff adds (dlc run --gradients).
  bool keepGradientOutputs = false;
  /// Passes not to run, by name (dlc compile --disable-pass).
  std::set<std::string> disabled;
  /// Run none of the fusion passes (dlc compile --no-fusion).
  bool noFusion = false;
  /// Run the verifier after every pass (always on in debug builds).
  bool verifyEach = false;
  /// Print the graph after every pass to `log` (--print-ir-after-all).
  bool printAfterAll = false;
  /// Say what each pass did, and why it refused to change things (-v).
  bool verbose = false;
  std::ostream* log = nullptr;
};

/// A pass rewrites the graph in place and says whether it changed anything.
struct Pass {
  const char* name;
  const char* summary;
  bool trainingOnly;
  bool isFusion;  // turned off together by --no-fusion
  bool (*run)(ir::Graph& graph, const PassOptions& options);
};

/// The passes in the order they run.
const std::vector<Pass>& pipeline();

/// Runs the pipeline; throws dlc::Error if a pass leaves a graph the verifier rejects.
void runPipeline(ir::Graph& graph, const PassOptions& options);

// The passes, one per file.
bool inferShapes(ir::Graph& graph, const PassOptions& options);
bool hoistLstmInputProjection(ir::Graph& graph, const PassOptions& options);
bool fuseEmbeddingGather(ir::Graph& graph, const PassOptions& options);
bool foldEmbeddingProjection(ir::Graph& graph, const PassOptions& options);
bool fuseLstmCell(ir::Graph& graph, const PassOptions& options);
bool fuseDotDense(ir::Graph& graph, const PassOptions& options);
bool fuseDotDenseLoss(ir::Graph& graph, const PassOptions& options);
bool combineSliceGradients(ir::Graph& graph, const PassOptions& options);
bool accumulateTableGradients(ir::Graph& graph, const PassOptions& options);
bool differentiate(ir::Graph& graph, const PassOptions& options);
bool addOptimizerUpdates(ir::Graph& graph, const PassOptions& options);
bool fuseMatMulAdd(ir::Graph& graph, const PassOptions& options);
bool packWeightPanels(ir::Graph& graph, const PassOptions& options);
bool fuseElementwise(ir::Graph& graph, const PassOptions& options);
bool eliminateCommonSubexpressions(ir::Graph& graph, const PassOptions& options);
bool eliminateDeadCode(ir::Graph& graph, const PassOptions& options);

/// Output names that autodiff gives the gradient of each trainable weight.
inline std::string gradientOutputName(const std::string& weight) { return "grad/" + weight; }

}  // namespace dlc::passes
