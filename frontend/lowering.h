// Lowering a validated model to the IR: one graph for a fixed batch size.
#pragma once

#include "frontend/layers.h"
#include "ir/graph.h"

namespace dlc {

struct LoweringOptions {
  /// Shapes are static: the batch size is fixed when a graph is built (see README, "Batch size").
  int64_t batchSize = 64;
  /// Adds the input "labels" (shaped like the first model output) and the output "loss".
  bool withLoss = false;
  /// A shared layer called on several tensors of one type runs once, on them stacked along the
  /// batch (the Siamese branches become one LSTM of twice the rows: larger products, half the
  /// ops), and each call's output is a slice of the result. Every layer that takes one tensor
  /// treats the rows of a batch independently, so the results are those of separate calls.
  bool stackSharedCalls = true;
};

/// Graph inputs are named after the Input layers, weights "<layer>/<weight>", outputs after the
/// model's output layers (plus "loss").
ir::Graph lowerModel(const schema::ModelT& model, const ModelAnalysis& analysis,
                     const LoweringOptions& options);

/// The loss the model trains with: its training section's, binary cross-entropy without one.
schema::LossKind lossOf(const schema::ModelT& model);

/// Names of the graph output and input that training needs.
inline constexpr const char* kLossOutput = "loss";
inline constexpr const char* kLabelsInput = "labels";

}  // namespace dlc
