// The program of a fused_elementwise op: a chain of elementwise ops evaluated per element in one
// loop. It is stored in the op's attributes: "program" holds three numbers a step (op kind,
// first and second argument, -1 for none), where an argument below the op's operand count is
// that operand and one above is the result of step (argument - operand count); a step that needs
// its own attribute (scale's factor) has it as "factor<step>". The last step gives the result.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace dlc::ir {

struct ElementwiseStep {
  OpKind kind;
  std::vector<int32_t> arguments;  // one or two
  Attributes attributes;           // the attributes of the op the step came from
};

/// The attributes that describe `steps`.
Attributes encodeElementwiseProgram(const std::vector<ElementwiseStep>& steps);

/// The steps of a fused_elementwise op.
std::vector<ElementwiseStep> decodeElementwiseProgram(const Op& op);

/// "add+sigmoid_grad+mul": what a fused_elementwise op computes, for dumps.
std::string describeElementwiseProgram(const std::vector<ElementwiseStep>& steps);

}  // namespace dlc::ir
