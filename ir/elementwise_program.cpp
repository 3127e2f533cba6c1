#include "ir/elementwise_program.h"

#include <fmt/format.h>

namespace dlc::ir {

namespace {

std::string factorKey(size_t step) { return fmt::format("factor{}", step); }

}  // namespace

Attributes encodeElementwiseProgram(const std::vector<ElementwiseStep>& steps) {
  Attributes attributes;
  std::vector<int64_t> program;
  for (size_t step = 0; step < steps.size(); ++step) {
    const ElementwiseStep& current = steps[step];
    program.push_back(static_cast<int64_t>(current.kind));
    program.push_back(current.arguments[0]);
    program.push_back(current.arguments.size() > 1 ? current.arguments[1] : -1);
    if (current.attributes.has("factor"))
      attributes.set(factorKey(step), current.attributes.getFloat("factor"));
  }
  attributes.set("program", program);
  return attributes;
}

std::vector<ElementwiseStep> decodeElementwiseProgram(const Op& op) {
  const std::vector<int64_t>& program = op.attributes.getInts("program");
  std::vector<ElementwiseStep> steps;
  for (size_t step = 0; step * 3 < program.size(); ++step) {
    ElementwiseStep current{
        static_cast<OpKind>(program[3 * step]), {static_cast<int32_t>(program[3 * step + 1])}, {}};
    if (program[3 * step + 2] >= 0)
      current.arguments.push_back(static_cast<int32_t>(program[3 * step + 2]));
    if (op.attributes.has(factorKey(step)))
      current.attributes.set("factor", op.attributes.getFloat(factorKey(step)));
    steps.push_back(std::move(current));
  }
  return steps;
}

std::string describeElementwiseProgram(const std::vector<ElementwiseStep>& steps) {
  std::string text;
  for (const ElementwiseStep& step : steps)
    text += (text.empty() ? "" : "+") + std::string(opName(step.kind));
  return text;
}

}  // namespace dlc::ir
