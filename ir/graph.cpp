#include "ir/graph.h"

#include <cassert>

#include "support/error.h"

namespace dlc::ir {

ValueId Graph::addNamed(ValueKind kind, const std::string& name, Type type, bool trainable) {
  assert(findNamed(name) == kNoValue && "named values must be unique");
  values_.push_back({kind, std::move(type), name, trainable});
  return static_cast<ValueId>(values_.size() - 1);
}

ValueId Graph::addInput(const std::string& name, Type type) {
  return addNamed(ValueKind::Input, name, std::move(type), false);
}

ValueId Graph::addWeight(const std::string& name, Type type, bool trainable) {
  return addNamed(ValueKind::Weight, name, std::move(type), trainable);
}

ValueId Graph::addState(const std::string& name, Type type) {
  return addNamed(ValueKind::State, name, std::move(type), false);
}

ValueId Graph::newResult(Type type) {
  values_.push_back({ValueKind::Result, std::move(type), {}, false});
  return static_cast<ValueId>(values_.size() - 1);
}

ValueId Graph::addOp(OpKind kind, std::vector<ValueId> operands, Attributes attributes,
                     std::string origin) {
  const OpInfo& info = opInfo(kind);
  assert(info.arity < 0 ? !operands.empty() : operands.size() == size_t(info.arity));

  std::vector<Type> operandTypes;
  for (ValueId operand : operands) operandTypes.push_back(type(operand));
  Type resultType;
  try {
    resultType = info.inferType(operandTypes, attributes);
  } catch (const Error& error) {
    std::string where = origin.empty() ? "" : fmt::format("layer '{}': ", origin);
    fail("{}{}: {}", where, info.name, error.what());
  }

  ValueId result = info.hasSideEffects ? kNoValue : newResult(std::move(resultType));
  ops_.push_back({kind, std::move(operands), result, std::move(attributes), std::move(origin)});
  return result;
}

ValueId Graph::findNamed(const std::string& name) const {
  for (size_t id = 0; id < values_.size(); ++id)
    if (values_[id].kind != ValueKind::Result && values_[id].name == name)
      return static_cast<ValueId>(id);
  return kNoValue;
}

ValueId Graph::findOutput(const std::string& name) const {
  for (const GraphOutput& output : outputs_)
    if (output.name == name) return output.value;
  return kNoValue;
}

std::vector<ValueId> Graph::valuesOfKind(ValueKind kind) const {
  std::vector<ValueId> ids;
  for (size_t id = 0; id < values_.size(); ++id)
    if (values_[id].kind == kind) ids.push_back(static_cast<ValueId>(id));
  return ids;
}

std::vector<int32_t> producerIndex(const Graph& graph) {
  std::vector<int32_t> producers(graph.valueCount(), -1);
  for (size_t index = 0; index < graph.ops().size(); ++index) {
    ValueId result = graph.ops()[index].result;
    if (result != kNoValue) producers[result] = static_cast<int32_t>(index);
  }
  return producers;
}

std::vector<int32_t> useCounts(const Graph& graph) {
  std::vector<int32_t> uses(graph.valueCount(), 0);
  for (const Op& op : graph.ops())
    for (ValueId operand : op.operands) ++uses[operand];
  for (const GraphOutput& output : graph.outputs()) ++uses[output.value];
  return uses;
}

std::vector<std::vector<int32_t>> usersOf(const Graph& graph) {
  std::vector<std::vector<int32_t>> users(graph.valueCount());
  for (size_t index = 0; index < graph.ops().size(); ++index)
    for (ValueId operand : graph.ops()[index].operands)
      if (users[operand].empty() || users[operand].back() != static_cast<int32_t>(index))
        users[operand].push_back(static_cast<int32_t>(index));
  return users;
}

void replaceAllUses(Graph& graph, ValueId from, ValueId to) {
  for (Op& op : graph.mutableOps())
    for (ValueId& operand : op.operands)
      if (operand == from) operand = to;
  for (GraphOutput& output : graph.mutableOutputs())
    if (output.value == from) output.value = to;
}

std::vector<bool> weightOnlyOps(const Graph& graph) {
  const std::vector<Op>& ops = graph.ops();
  std::vector<bool> weightOnly(ops.size(), false);
  for (const Op& op : ops)
    if (opInfo(op.kind).hasSideEffects) return weightOnly;

  std::vector<bool> constant(graph.valueCount(), false);
  for (ValueId id : graph.valuesOfKind(ValueKind::Weight)) constant[id] = true;
  for (size_t index = 0; index < ops.size(); ++index) {
    const Op& op = ops[index];
    bool fromWeights = !op.operands.empty();
    for (ValueId operand : op.operands) fromWeights = fromWeights && constant[operand];
    weightOnly[index] = fromWeights;
    if (fromWeights) constant[op.result] = true;
  }
  return weightOnly;
}

void reorderTopologically(Graph& graph) {
  std::vector<Op>& ops = graph.mutableOps();
  std::vector<int32_t> producers = producerIndex(graph);
  std::vector<uint8_t> state(ops.size(), 0);  // 0: not placed, 1: being placed, 2: placed
  std::vector<Op> ordered;
  ordered.reserve(ops.size());

  // Places an op after its operands' producers; iterative, as chains can be long.
  auto place = [&](size_t root) {
    std::vector<std::pair<size_t, size_t>> stack = {{root, 0}};
    state[root] = 1;
    while (!stack.empty()) {
      auto& [index, next] = stack.back();
      if (next < ops[index].operands.size()) {
        int32_t producer = producers[ops[index].operands[next++]];
        if (producer >= 0 && state[producer] == 0) {
          assert(!opInfo(ops[producer].kind).hasSideEffects);
          state[producer] = 1;
          stack.push_back({static_cast<size_t>(producer), 0});
        }
        continue;
      }
      state[index] = 2;
      ordered.push_back(std::move(ops[index]));
      stack.pop_back();
    }
  };
  for (size_t index = 0; index < ops.size(); ++index)
    if (state[index] == 0) place(index);
  ops = std::move(ordered);
}

}  // namespace dlc::ir
