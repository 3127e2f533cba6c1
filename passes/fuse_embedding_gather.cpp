// Fuses an embedding lookup into the matrix product that reads it (the LSTM's hoisted input
// projection): matmul(reshape(gather(table, ids)), b) -> fused_gather_matmul(table, ids, b), whose
// kernel takes the rows a cache-sized tile at a time instead of materializing [batch, steps, D].
//
// It runs before autodiff: the fused op's gradient rule gives the table's gradient as a
// fused_matmul_scatter_add (dy · bᵀ added straight into the rows, repeated ids adding up) and
// b's as a transposed fused_gather_matmul. The gathered rows (and their reshape) must have no
// other user and not be a graph output, or they would be computed twice.
#include "ir/builder.h"
#include "passes/patterns.h"

namespace dlc::passes {

namespace {

constexpr const char* kPass = "fuse-embedding-gather";

struct Lookup {
  ir::ValueId table, ids, right, product;
  std::string origin;
};

}  // namespace

bool fuseEmbeddingGather(ir::Graph& graph, const PassOptions& options) {
  GraphIndex index(graph);
  std::vector<Lookup> lookups;
  for (const ir::Op& op : graph.ops()) {
    if (op.kind != ir::OpKind::MatMul || op.attributes.has("transpose_a") ||
        op.attributes.has("transpose_b"))
      continue;
    // The rows, possibly flattened from [..., D] to [n, D] first.
    std::vector<ir::ValueId> pieces = {op.operands[0]};
    const ir::Op* gather = index.producer(op.operands[0], ir::OpKind::Gather);
    if (const ir::Op* reshape = index.producer(op.operands[0], ir::OpKind::Reshape)) {
      gather = index.producer(reshape->operands[0], ir::OpKind::Gather);
      pieces.push_back(reshape->operands[0]);
      // A reshape that merges rows ([batch, steps, D] -> [batch, steps * D], a Flatten) makes
      // the product's rows something else than the table's.
      if (gather && graph.type(op.operands[0]).shape.back() !=
                        graph.type(reshape->operands[0]).shape.back()) {
        explainRefusal(options, kPass,
                       "the rows gathered at '{}' are reshaped across rows for the product at '{}'",
                       gather->origin, op.origin);
        continue;
      }
    }
    if (!gather) continue;

    std::string reason;
    for (ir::ValueId piece : pieces)
      if (reason.empty()) reason = index.whyShared(piece);
    if (!reason.empty()) {
      explainRefusal(options, kPass, "the rows gathered at '{}' for the product at '{}' {}",
                     gather->origin, op.origin, reason);
      continue;
    }
    lookups.push_back(
        {gather->operands[0], gather->operands[1], op.operands[1], op.result, op.origin});
  }

  for (const Lookup& lookup : lookups) {
    ir::Builder builder(graph, lookup.origin);
    ir::ValueId fused =
        builder.op(ir::OpKind::FusedGatherMatMul, {lookup.table, lookup.ids, lookup.right});
    ir::replaceAllUses(graph, lookup.product, fused);
  }
  return finishRewrite(graph, options, !lookups.empty());
}

}  // namespace dlc::passes
