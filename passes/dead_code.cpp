// Dead-code elimination: removes ops whose results reach no graph output and no op with side
// effects.
#include "passes/pass.h"

namespace dlc::passes {

bool eliminateDeadCode(ir::Graph& graph, const PassOptions&) {
  std::vector<bool> live(graph.valueCount(), false);
  for (const ir::GraphOutput& output : graph.outputs()) live[output.value] = true;

  std::vector<ir::Op>& ops = graph.mutableOps();
  std::vector<bool> keep(ops.size(), false);
  for (size_t index = ops.size(); index-- > 0;) {
    const ir::Op& op = ops[index];
    keep[index] = ir::opInfo(op.kind).hasSideEffects || live[op.result];
    if (!keep[index]) continue;
    for (ir::ValueId operand : op.operands) live[operand] = true;
  }

  std::vector<ir::Op> kept;
  for (size_t index = 0; index < ops.size(); ++index)
    if (keep[index]) kept.push_back(std::move(ops[index]));
  bool changed = kept.size() != ops.size();
  ops = std::move(kept);
  return changed;
}

}  // namespace dlc::passes
