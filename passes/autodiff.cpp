// Reverse-mode automatic differentiation on the IR. Starting from d(loss)/d(loss) = 1, ops are
// visited from last to first; each op whose result has a gradient hands its operands their
// share through its rule in passes/gradients.cpp. Only values that lead to a trainable weight
// get gradients, so token ids, labels and frozen layers cost nothing. The gradient of each
// trainable weight becomes the graph output "grad/<weight>".
#include "passes/gradients.h"
#include "passes/pass.h"
#include "support/error.h"

namespace dlc::passes {

bool differentiate(ir::Graph& graph, const PassOptions&) {
  ir::ValueId loss = graph.findOutput("loss");
  if (loss == ir::kNoValue) fail("autodiff: the graph has no 'loss' output");

  // Forward sweep: which values depend on a trainable weight.
  std::vector<bool> dependsOnWeight(graph.valueCount(), false);
  for (ir::ValueId id : graph.valuesOfKind(ir::ValueKind::Weight))
    dependsOnWeight[id] = graph.value(id).trainable;
  for (const ir::Op& op : graph.ops()) {
    if (op.result == ir::kNoValue) continue;
    for (ir::ValueId operand : op.operands)
      if (dependsOnWeight[operand]) dependsOnWeight[op.result] = true;
  }

  // The sweep appends ops, so it walks a copy of the forward ops, taken before the seed below
  // (whose result the tables do not cover).
  std::vector<ir::Op> forward = graph.ops();
  std::vector<ir::ValueId> gradients(graph.valueCount(), ir::kNoValue);
  ir::Builder builder(graph, "autodiff");
  gradients[loss] = builder.fill(graph.type(loss).shape, 1.0);
  gradients.resize(graph.valueCount(), ir::kNoValue);
  dependsOnWeight.resize(graph.valueCount(), false);
  for (auto op = forward.rbegin(); op != forward.rend(); ++op) {
    if (op->result == ir::kNoValue || gradients[op->result] == ir::kNoValue) continue;
    if (!dependsOnWeight[op->result]) continue;
    GradientRule rule = gradientRule(op->kind);
    if (!rule)
      fail("layer '{}': autodiff: {} has no gradient rule", op->origin, ir::opName(op->kind));

    builder.setOrigin(op->origin.empty() ? "autodiff" : op->origin + "/grad");
    auto needs = [&](int index) { return bool(dependsOnWeight[op->operands[index]]); };
    auto add = [&](int index, ir::ValueId gradient) {
      ir::ValueId& slot = gradients[op->operands[index]];
      slot = slot == ir::kNoValue ? gradient : builder.add(slot, gradient);
    };
    GradientContext context(builder, *op, gradients[op->result], needs, add);
    rule(context);
    // The rule created values: grow the tables to cover them.
    gradients.resize(graph.valueCount(), ir::kNoValue);
    dependsOnWeight.resize(graph.valueCount(), false);
  }

  bool changed = false;
  for (ir::ValueId weight : graph.valuesOfKind(ir::ValueKind::Weight)) {
    if (!graph.value(weight).trainable || gradients[weight] == ir::kNoValue) continue;
    graph.addOutput(gradientOutputName(graph.value(weight).name), gradients[weight]);
    changed = true;
  }
  return changed;
}

}  // namespace dlc::passes
