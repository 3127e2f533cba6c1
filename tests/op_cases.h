// The op test table: for every op kind of ir/ops.def, small graphs around one op with random
// operands from fixed seeds. The gradient checks (gradient_check_test.cpp) and the comparison of
// the JIT with the reference executor (jit_reference_test.cpp) both run over it.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "support/tensor.h"

namespace dlc::testing {

/// Where a case's random operand values are drawn from (uniformly). Values within 0.02 of the
/// kinks of relu (0) and hard_sigmoid (±2.5) are drawn again, so that central differences never
/// straddle a kink.
struct Range {
  double low, high;
};
inline constexpr Range kSigned{-1, 1};
inline constexpr Range kWide{-4, 4};  // reaches the flat parts of hard_sigmoid
inline constexpr Range kPositive{0.5, 2};
inline constexpr Range kProbability{0.1, 0.9};

/// Builds one case's graph and the values its weights, state and inputs start with.
class OpCaseBuilder {
 public:
  OpCaseBuilder(ir::Graph& graph, uint64_t seed);

  ir::Builder& builder() { return builder_; }
  ir::Graph& graph() { return graph_; }

  /// A trainable weight with random values: the gradient checks differentiate with respect to
  /// every one of them.
  ir::ValueId weight(const std::string& name, Shape shape, Range range = kSigned);
  ir::ValueId weight(const std::string& name, Shape shape, std::vector<float> values);
  /// A weight that is not trained (labels, gradients fed to an optimizer op), random or given.
  ir::ValueId frozen(const std::string& name, Shape shape, Range range = kSigned);
  ir::ValueId frozen(const std::string& name, Shape shape, std::vector<float> values);
  /// Persistent state (optimizer slots), random or given.
  ir::ValueId state(const std::string& name, Shape shape, Range range = kSigned);
  ir::ValueId state(const std::string& name, Shape shape, std::vector<float> values);
  /// A graph input of token ids.
  ir::ValueId ids(const std::string& name, Shape shape, std::vector<int32_t> values);

  /// Weights and state by name, then the graph inputs by name.
  TensorMap values, inputs;

 private:
  std::vector<float> draw(const Shape& shape, Range range);

  ir::Graph& graph_;
  ir::Builder builder_;
  uint64_t state_;
};

struct OpCase {
  std::string name;  // a GoogleTest parameter name: letters, digits and '_'
  ir::OpKind kind;
  /// Adds the op under test (and its operands); returns its result, or ir::kNoValue for ops with
  /// side effects.
  std::function<ir::ValueId(OpCaseBuilder&)> build;
  /// Whether central differences can check the case's gradients (false where the op's
  /// operands sit on a kink on purpose, as the clipped predictions of a loss).
  bool gradientCheck = true;
};

/// GoogleTest prints a case by its name.
void PrintTo(const OpCase& opCase, std::ostream* stream);

/// Every case, in the order of ir/ops.def.
const std::vector<OpCase>& opCases();

/// Every op kind of ir/ops.def, in order.
const std::vector<ir::OpKind>& allOpKinds();

/// A case ready to run: its graph has the output "result" (the op's result) and, when
/// `withGradients` and the op is differentiable, "loss" = sum(result * projection) for a fixed
/// random projection, with autodiff's "grad/<weight>" for every trainable weight.
struct BuiltCase {
  ir::Graph graph;
  TensorMap values, inputs;
  bool hasGradients = false;
  std::vector<std::string> trainableWeights;
};
BuiltCase buildCase(const OpCase& opCase, bool withGradients);

/// Whether the gradient checks run on the case: its op has a gradient rule and the case allows it.
bool checksGradients(const OpCase& opCase);

}  // namespace dlc::testing
