#include "ir/verifier.h"

#include "support/error.h"

namespace dlc::ir {

void verifyGraph(const Graph& graph) {
  std::vector<bool> defined(graph.valueCount(), false);
  for (ValueId id = 0; id < graph.valueCount(); ++id)
    defined[id] = graph.value(id).kind != ValueKind::Result;

  for (size_t index = 0; index < graph.ops().size(); ++index) {
    const Op& op = graph.ops()[index];
    const OpInfo& info = opInfo(op.kind);
    auto where = [&] { return fmt::format("op #{} ({}, from '{}')", index, info.name, op.origin); };

    if (info.arity >= 0 ? op.operands.size() != size_t(info.arity) : op.operands.empty())
      fail("{}: has {} operands", where(), op.operands.size());
    std::vector<Type> operandTypes;
    for (ValueId operand : op.operands) {
      if (operand < 0 || operand >= graph.valueCount() || !defined[operand])
        fail("{}: uses a value before it is defined", where());
      operandTypes.push_back(graph.type(operand));
    }

    Type expected;
    try {
      expected = info.inferType(operandTypes, op.attributes);
    } catch (const Error& error) {
      fail("{}: {}", where(), error.what());
    }

    if (info.hasSideEffects) {
      if (op.result != kNoValue) fail("{}: an op with side effects has a result", where());
      ValueKind target = graph.value(op.operands[0]).kind;
      if (target != ValueKind::Weight && target != ValueKind::State)
        fail("{}: writes into a value that is not a weight or state", where());
      continue;
    }
    if (op.result == kNoValue || defined[op.result])
      fail("{}: its result is missing or defined twice", where());
    if (graph.type(op.result) != expected)
      fail("{}: result type {} disagrees with its shape rule ({})", where(),
           formatType(graph.type(op.result)), formatType(expected));
    defined[op.result] = true;
  }

  for (const GraphOutput& output : graph.outputs())
    if (output.value < 0 || output.value >= graph.valueCount() || !defined[output.value])
      fail("output '{}' is not defined", output.name);
}

}  // namespace dlc::ir
