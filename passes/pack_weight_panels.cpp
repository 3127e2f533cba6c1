// Lays out a weight that products read as their right operand in column panels, the
// [N / W, K, W] form of fused_matmul_add, W = 64 columns (the width of the product kernel's
// tiles):
//
//   fused_matmul_add(a, b, addend)  ->  fused_matmul_add(a, panels, addend),
//   panels = transpose(reshape(b, [K, N / W, W]), [1, 0, 2])
//
// The kernel reads a K x W block of b for every tile of rows. In b's own layout that block is K
// strips of 256 bytes, N floats apart: with N = 512 they fall into a few sets of the L1 cache and
// are fetched again for every tile. In panels the block is contiguous and stays in L1.
//
// The cost rule: the panels are one copy of b, made each time weights are bound when nothing
// updates b (ir::weightOnlyOps), else on every run. Pack when the products that read b have at
// least kMinRowsPerCopy rows in all, so that the copy is small next to the work it speeds up.
#include <map>

#include "ir/builder.h"
#include "passes/patterns.h"

namespace dlc::passes {

namespace {

constexpr const char* kPass = "pack-weight-panels";
constexpr int64_t kPanelColumns = 64;
constexpr int64_t kMinRowsPerCopy = 16;

}  // namespace

bool packWeightPanels(ir::Graph& graph, const PassOptions& options) {
  // The products of each weight, by op index.
  std::map<ir::ValueId, std::vector<size_t>> productsOf;
  for (size_t index = 0; index < graph.ops().size(); ++index) {
    const ir::Op& op = graph.ops()[index];
    if (op.kind != ir::OpKind::FusedMatMulAdd) continue;
    ir::ValueId right = op.operands[1];
    const Shape& shape = graph.type(right).shape;
    if (graph.value(right).kind != ir::ValueKind::Weight || shape.size() != 2) continue;
    if (shape[1] % kPanelColumns != 0 || shape[1] == kPanelColumns) continue;
    productsOf[right].push_back(index);
  }

  bool changed = false;
  for (const auto& [weight, products] : productsOf) {
    int64_t rows = 0;
    for (size_t index : products) rows += graph.type(graph.ops()[index].operands[0]).shape[0];
    const std::string& name = graph.value(weight).name;
    if (rows < kMinRowsPerCopy) {
      explainDecision(options, kPass, "not packed: '{}' is read by {} product rows (fewer than {})",
                      name, rows, kMinRowsPerCopy);
      continue;
    }
    explainDecision(options, kPass, "packed '{}' for {} products ({} rows)", name, products.size(),
                    rows);

    const Shape& shape = graph.type(weight).shape;
    ir::Builder builder(graph, graph.ops()[products.front()].origin);
    ir::ValueId strips =
        builder.reshape(weight, {shape[0], shape[1] / kPanelColumns, kPanelColumns});
    ir::ValueId panels = builder.transpose(strips, {1, 0, 2});
    for (size_t index : products) graph.mutableOps()[index].operands[1] = panels;
    changed = true;
  }
  return finishRewrite(graph, options, changed);
}

}  // namespace dlc::passes
