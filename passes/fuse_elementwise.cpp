// Fuses chains of elementwise ops into fused_elementwise ops: one loop over memory for the whole
// chain instead of one per op, with every intermediate value kept in a register. It runs last
// among the rewrites (after autodiff, the optimizer and CSE), so the backward pass's chains of
// gradient products and sums are fused as well as the forward's.
//
// A chain grows from its last op up through operands made by elementwise ops of the same result
// shape that have no other user and are not graph outputs (those would be computed twice);
// operands of other shapes join as broadcast inputs. Known gap: only f32 chains with one result.
#include <algorithm>
#include <map>

#include "ir/builder.h"
#include "ir/elementwise_program.h"
#include "passes/patterns.h"

namespace dlc::passes {

namespace {

constexpr const char* kPass = "fuse-elementwise";

/// Ops of one chain, by op index, in execution order; the last is the chain's root.
struct Chain {
  std::vector<int32_t> members;
};

}  // namespace

bool fuseElementwise(ir::Graph& graph, const PassOptions& options) {
  GraphIndex index(graph);
  std::vector<int32_t> producers = ir::producerIndex(graph);
  const std::vector<ir::Op>& ops = graph.ops();
  std::vector<bool> taken(ops.size(), false);

  // Roots from the last op backwards, so that each chain is as long as it can be.
  std::vector<Chain> chains;
  for (int32_t root = static_cast<int32_t>(ops.size()) - 1; root >= 0; --root) {
    if (taken[root] || !ir::isElementwise(ops[root].kind)) continue;
    const Shape& shape = graph.type(ops[root].result).shape;
    std::vector<int32_t> members = {root}, pending = {root};
    size_t refused = 0;
    while (!pending.empty()) {
      const ir::Op& op = ops[pending.back()];
      pending.pop_back();
      for (ir::ValueId operand : op.operands) {
        int32_t producer = producers[operand];
        if (producer < 0 || taken[producer] || !ir::isElementwise(ops[producer].kind) ||
            graph.type(operand).shape != shape ||
            std::find(members.begin(), members.end(), producer) != members.end())
          continue;
        if (!index.whyShared(operand).empty()) {
          ++refused;
          continue;
        }
        members.push_back(producer);
        pending.push_back(producer);
      }
    }
    if (refused > 0)
      explainRefusal(options, kPass, "{} elementwise operand(s) of the chain at '{}' are shared",
                     refused, ops[root].origin);
    if (members.size() < 2) continue;
    for (int32_t member : members) taken[member] = true;
    std::sort(members.begin(), members.end());
    chains.push_back({members});
  }

  for (const Chain& chain : chains) {
    // Arguments: the chain's inputs first (in order of first use), then the steps' results.
    std::vector<ir::ValueId> inputs;
    std::vector<ir::ElementwiseStep> steps;
    std::map<ir::ValueId, int32_t> stepOf;
    for (int32_t member : chain.members) {
      const ir::Op& op = ops[member];
      for (ir::ValueId operand : op.operands)
        if (!stepOf.count(operand) &&
            std::find(inputs.begin(), inputs.end(), operand) == inputs.end())
          inputs.push_back(operand);
      stepOf[op.result] = static_cast<int32_t>(steps.size());
      steps.push_back({op.kind, {}, op.attributes});
    }
    auto inputCount = static_cast<int32_t>(inputs.size());
    for (size_t step = 0; step < chain.members.size(); ++step) {
      for (ir::ValueId operand : ops[chain.members[step]].operands) {
        auto found = stepOf.find(operand);
        steps[step].arguments.push_back(
            found != stepOf.end()
                ? inputCount + found->second
                : static_cast<int32_t>(std::find(inputs.begin(), inputs.end(), operand) -
                                       inputs.begin()));
      }
    }
    const ir::Op& root = ops[chain.members.back()];
    ir::ValueId result = root.result;
    ir::Builder builder(graph, root.origin + " (" + ir::describeElementwiseProgram(steps) + ")");
    ir::ValueId fused =
        builder.op(ir::OpKind::FusedElementwise, inputs, ir::encodeElementwiseProgram(steps));
    ir::replaceAllUses(graph, result, fused);
  }
  return finishRewrite(graph, options, !chains.empty());
}

}  // namespace dlc::passes
