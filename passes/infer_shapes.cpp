// Shape inference: recomputes every result type from the types of the graph's inputs, weights
// and state, in op order. Lowering and other passes build ops with their types already known;
// this pass re-derives them after something upstream changed (such as a new batch size).
#include "passes/pass.h"
#include "support/error.h"

namespace dlc::passes {

bool inferShapes(ir::Graph& graph, const PassOptions&) {
  bool changed = false;
  for (const ir::Op& op : graph.ops()) {
    const ir::OpInfo& info = ir::opInfo(op.kind);
    std::vector<ir::Type> operandTypes;
    for (ir::ValueId operand : op.operands) operandTypes.push_back(graph.type(operand));
    ir::Type type;
    try {
      type = info.inferType(operandTypes, op.attributes);
    } catch (const Error& error) {
      fail("layer '{}': {}: {}", op.origin, info.name, error.what());
    }
    if (op.result == ir::kNoValue || graph.type(op.result) == type) continue;
    graph.mutableValue(op.result).type = type;
    changed = true;
  }
  return changed;
}

}  // namespace dlc::passes
