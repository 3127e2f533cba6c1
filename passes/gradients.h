// Gradient rules, one per differentiable op kind (passes/gradients.cpp lists them).
#pragma once

#include <functional>

#include "ir/builder.h"

namespace dlc::passes {

/// What a gradient rule sees: the forward op, the gradient of its result, and where to send
/// the gradients of its operands.
class GradientContext {
 public:
  GradientContext(ir::Builder& builder, const ir::Op& op, ir::ValueId resultGradient,
                  std::function<bool(int)> needs, std::function<void(int, ir::ValueId)> add)
      : builder(builder),
        op(op),
        dy(resultGradient),
        needs_(std::move(needs)),
        add_(std::move(add)) {}

  ir::Builder& builder;
  const ir::Op& op;
  ir::ValueId dy;

  ir::ValueId operand(int index) const { return op.operands[index]; }
  const Shape& operandShape(int index) const { return builder.shape(op.operands[index]); }

  /// Whether operand `index` leads to a trainable weight (else its gradient is not wanted).
  bool needs(int index) const { return needs_(index); }
  /// Adds `gradient` to operand `index`'s gradient, summing it down to the operand's shape
  /// first if the op broadcast that operand.
  void accumulate(int index, ir::ValueId gradient);

 private:
  std::function<bool(int)> needs_;
  std::function<void(int, ir::ValueId)> add_;
};

using GradientRule = void (*)(GradientContext& context);

/// The rule for `kind`, or nullptr if the op is not differentiable.
GradientRule gradientRule(ir::OpKind kind);

/// Sums `gradient` over the axes along which a value of shape `target` was broadcast.
ir::ValueId sumToShape(ir::Builder& builder, ir::ValueId gradient, const Shape& target);

}  // namespace dlc::passes
