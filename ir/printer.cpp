#include "ir/printer.h"

#include <fmt/format.h>

#include <unordered_map>

namespace dlc::ir {

namespace {

const char* kindKeyword(ValueKind kind) {
  switch (kind) {
    case ValueKind::Input: return "input";
    case ValueKind::Weight: return "weight";
    case ValueKind::State: return "state";
    case ValueKind::Result: return "result";
  }
  return "?";
}

class Printer {
 public:
  explicit Printer(const Graph& graph) : graph_(graph) {}

  std::string print() {
    std::string text = fmt::format("graph {} {{\n", graph_.name());
    for (ValueKind kind : {ValueKind::Input, ValueKind::Weight, ValueKind::State}) {
      for (ValueId id : graph_.valuesOfKind(kind)) {
        const Value& value = graph_.value(id);
        text += fmt::format("  {} %{} : {}{}\n", kindKeyword(kind), value.name,
                            formatType(value.type), value.trainable ? " trainable" : "");
      }
    }
    for (const Op& op : graph_.ops()) text += printOp(op);
    for (const GraphOutput& output : graph_.outputs())
      text += fmt::format("  output {} = {}\n", output.name, reference(output.value));
    return text + "}\n";
  }

 private:
  std::string reference(ValueId id) {
    const Value& value = graph_.value(id);
    if (value.kind != ValueKind::Result) return "%" + value.name;
    auto [entry, inserted] = numbers_.try_emplace(id, static_cast<int>(numbers_.size()));
    return fmt::format("%{}", entry->second);
  }

  std::string printOp(const Op& op) {
    std::string operands;
    for (ValueId operand : op.operands)
      operands += (operands.empty() ? "" : ", ") + reference(operand);
    std::string attributes = formatAttributes(op.attributes);
    std::string call = fmt::format("{}({}){}{}", opName(op.kind), operands,
                                   attributes.empty() ? "" : " ", attributes);
    std::string origin = op.origin.empty() ? "" : "  # " + op.origin;
    if (op.result == kNoValue) return fmt::format("  {}{}\n", call, origin);
    return fmt::format("  {} = {} : {}{}\n", reference(op.result), call,
                       formatType(graph_.type(op.result)), origin);
  }

  const Graph& graph_;
  std::unordered_map<ValueId, int> numbers_;
};

}  // namespace

std::string printGraph(const Graph& graph) { return Printer(graph).print(); }

}  // namespace dlc::ir
