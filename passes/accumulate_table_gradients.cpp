// Accumulates an embedding table's gradient inside the scatters that make it. A table looked up
// several times (both questions of the Quora model) gets one scatter per lookup, each writing a
// whole [rows, D] gradient, and adds of those: for a 50002 x 128 table, each add reads 51 MB and
// writes 26 MB. add(g, fused_matmul_scatter_add(ids, dy, b)) becomes
// fused_matmul_scatter_add(ids, dy, b, g), which starts from g instead of zeros.
//
// The scatter must have no other user and not be a graph output (it would be computed twice).
#include "ir/builder.h"
#include "passes/patterns.h"

namespace dlc::passes {

namespace {

constexpr const char* kPass = "accumulate-table-gradients";

}  // namespace

bool accumulateTableGradients(ir::Graph& graph, const PassOptions& options) {
  GraphIndex index(graph);
  std::vector<std::pair<ir::ValueId, ir::Op>> rewrites;  // (the sum, the scatter that takes it)
  for (const ir::Op& op : graph.ops()) {
    if (op.kind != ir::OpKind::Add) continue;
    for (int side = 0; side < 2; ++side) {
      const ir::Op* scatter = index.producer(op.operands[side], ir::OpKind::FusedMatMulScatterAdd);
      ir::ValueId other = op.operands[1 - side];
      if (!scatter || scatter->operands.size() != 3 || graph.type(other) != graph.type(op.result))
        continue;
      if (std::string reason = index.whyShared(scatter->result); !reason.empty()) {
        explainRefusal(options, kPass, "the table gradient scattered at '{}' {}", scatter->origin,
                       reason);
        continue;
      }
      ir::Op accumulating = *scatter;
      accumulating.operands.push_back(other);
      rewrites.emplace_back(op.result, accumulating);
      break;
    }
  }

  for (const auto& [sum, scatter] : rewrites) {
    ir::Builder builder(graph, scatter.origin);
    ir::replaceAllUses(graph, sum, builder.op(scatter.kind, scatter.operands, scatter.attributes));
  }
  return finishRewrite(graph, options, !rewrites.empty());
}

}  // namespace dlc::passes
