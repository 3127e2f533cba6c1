// Common-subexpression elimination: an op with the same kind, operands and attributes as an
// earlier one is replaced by it. Ops with side effects are never merged.
#include <map>
#include <tuple>

#include "passes/pass.h"

namespace dlc::passes {

bool eliminateCommonSubexpressions(ir::Graph& graph, const PassOptions&) {
  std::vector<ir::ValueId> replacement(graph.valueCount());
  for (ir::ValueId id = 0; id < graph.valueCount(); ++id) replacement[id] = id;

  using Key = std::tuple<ir::OpKind, std::vector<ir::ValueId>, std::string>;
  std::map<Key, ir::ValueId> seen;
  std::vector<ir::Op> kept;
  bool changed = false;
  for (ir::Op& op : graph.mutableOps()) {
    for (ir::ValueId& operand : op.operands) operand = replacement[operand];
    if (ir::opInfo(op.kind).hasSideEffects) {
      kept.push_back(std::move(op));
      continue;
    }
    Key key{op.kind, op.operands, ir::formatAttributes(op.attributes)};
    auto [entry, inserted] = seen.try_emplace(key, op.result);
    if (inserted) {
      kept.push_back(std::move(op));
      continue;
    }
    replacement[op.result] = entry->second;
    changed = true;
  }

  graph.mutableOps() = std::move(kept);
  for (ir::GraphOutput& output : graph.mutableOutputs()) output.value = replacement[output.value];
  return changed;
}

}  // namespace dlc::passes
