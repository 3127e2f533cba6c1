#include "passes/gradients.h"

#include <array>

#include "support/error.h"

namespace dlc::passes {

using ir::OpKind;
using ir::ValueId;

ValueId sumToShape(ir::Builder& builder, ValueId gradient, const Shape& target) {
  Shape shape = builder.shape(gradient);
  if (shape == target) return gradient;
  size_t extra = shape.size() - target.size();
  Shape axes;
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    bool leading = axis < extra;
    if (leading || (target[axis - extra] == 1 && shape[axis] != 1))
      axes.push_back(static_cast<int64_t>(axis));
  }
  ValueId summed = axes.empty() ? gradient : builder.reduceSum(gradient, axes, true);
  return builder.reshape(summed, target);
}

void GradientContext::accumulate(int index, ValueId gradient) {
  if (!needs(index)) return;
  add_(index, sumToShape(builder, gradient, operandShape(index)));
}

namespace {

void gatherGradient(GradientContext& c) {
  // Repeated ids are normal: their rows' gradients add up.
  int64_t rows = c.operandShape(0)[0];
  c.accumulate(0, c.builder.op(OpKind::ScatterAdd, {c.operand(1), c.dy}, {{"rows", rows}}));
}

void scatterAddGradient(GradientContext& c) {
  c.accumulate(1, c.builder.op(OpKind::Gather, {c.dy, c.operand(0)}));
}

void matMulGradient(GradientContext& c) {
  bool transposeA = c.op.attributes.getInt("transpose_a", 0) != 0;
  bool transposeB = c.op.attributes.getInt("transpose_b", 0) != 0;
  ValueId a = c.operand(0);
  ValueId b = c.operand(1);
  ir::Builder& builder = c.builder;
  // C = op(A) · op(B); each case writes dA and dB in the layout A and B are stored in.
  if (c.needs(0)) {
    ValueId da = !transposeA ? builder.matmul(c.dy, b, false, !transposeB)
                             : builder.matmul(b, c.dy, transposeB, true);
    c.accumulate(0, da);
  }
  if (c.needs(1)) {
    ValueId db = !transposeB ? builder.matmul(a, c.dy, !transposeA, false)
                             : builder.matmul(c.dy, a, true, transposeA);
    c.accumulate(1, db);
  }
}

void addGradient(GradientContext& c) {
  c.accumulate(0, c.dy);
  c.accumulate(1, c.dy);
}

void subGradient(GradientContext& c) {
  c.accumulate(0, c.dy);
  if (c.needs(1)) c.accumulate(1, c.builder.neg(c.dy));
}

void mulGradient(GradientContext& c) {
  if (c.needs(0)) c.accumulate(0, c.builder.mul(c.dy, c.operand(1)));
  if (c.needs(1)) c.accumulate(1, c.builder.mul(c.dy, c.operand(0)));
}

void divGradient(GradientContext& c) {
  ValueId b = c.operand(1);
  if (c.needs(0)) c.accumulate(0, c.builder.div(c.dy, b));
  if (c.needs(1)) {
    ValueId numerator = c.builder.mul(c.dy, c.operand(0));
    ValueId quotient = c.builder.div(numerator, c.builder.mul(b, b));
    c.accumulate(1, c.builder.neg(quotient));
  }
}

void negGradient(GradientContext& c) { c.accumulate(0, c.builder.neg(c.dy)); }

void scaleGradient(GradientContext& c) {
  c.accumulate(0, c.builder.scale(c.dy, c.op.attributes.getFloat("factor")));
}

void sigmoidGradient(GradientContext& c) {
  c.accumulate(0, c.builder.op(OpKind::SigmoidGrad, {c.op.result, c.dy}));
}

void hardSigmoidGradient(GradientContext& c) {
  c.accumulate(0, c.builder.op(OpKind::HardSigmoidGrad, {c.operand(0), c.dy}));
}

void tanhGradient(GradientContext& c) {
  c.accumulate(0, c.builder.op(OpKind::TanhGrad, {c.op.result, c.dy}));
}

void reluGradient(GradientContext& c) {
  c.accumulate(0, c.builder.op(OpKind::ReluGrad, {c.operand(0), c.dy}));
}

void expGradient(GradientContext& c) { c.accumulate(0, c.builder.mul(c.dy, c.op.result)); }

void logGradient(GradientContext& c) { c.accumulate(0, c.builder.div(c.dy, c.operand(0))); }

void sqrtGradient(GradientContext& c) {
  c.accumulate(0, c.builder.div(c.builder.scale(c.dy, 0.5), c.op.result));
}

void reduceSumGradient(GradientContext& c) {
  const Shape& inputShape = c.operandShape(0);
  Shape keptShape = inputShape;
  for (int64_t axis : c.op.attributes.getInts("axes"))
    keptShape[axis < 0 ? axis + static_cast<int64_t>(inputShape.size()) : axis] = 1;
  c.accumulate(0, c.builder.broadcastTo(c.builder.reshape(c.dy, keptShape), inputShape));
}

void broadcastToGradient(GradientContext& c) { c.accumulate(0, c.dy); }

void reshapeGradient(GradientContext& c) {
  c.accumulate(0, c.builder.reshape(c.dy, c.operandShape(0)));
}

void transposeGradient(GradientContext& c) {
  const Shape& permutation = c.op.attributes.getInts("permutation");
  Shape inverse(permutation.size());
  for (size_t axis = 0; axis < permutation.size(); ++axis)
    inverse[permutation[axis]] = static_cast<int64_t>(axis);
  c.accumulate(0, c.builder.transpose(c.dy, inverse));
}

/// The op's "axis" attribute, counted from the front (shape rules also take negative axes).
int64_t axisOf(const GradientContext& c) {
  int64_t axis = c.op.attributes.getInt("axis");
  return axis < 0 ? axis + static_cast<int64_t>(c.operandShape(0).size()) : axis;
}

void sliceGradient(GradientContext& c) {
  int64_t axis = axisOf(c);
  int64_t size = c.operandShape(0)[axis];
  int64_t start = c.op.attributes.getInt("start");
  int64_t end = c.op.attributes.getInt("end");
  c.accumulate(0, c.builder.pad(c.dy, axis, start, size - end));
}

void padGradient(GradientContext& c) {
  int64_t axis = axisOf(c);
  int64_t before = c.op.attributes.getInt("before");
  c.accumulate(0, c.builder.slice(c.dy, axis, before, before + c.operandShape(0)[axis]));
}

void concatGradient(GradientContext& c) {
  int64_t axis = axisOf(c);
  int64_t offset = 0;
  for (int index = 0; index < static_cast<int>(c.op.operands.size()); ++index) {
    int64_t size = c.operandShape(index)[axis];
    if (c.needs(index)) c.accumulate(index, c.builder.slice(c.dy, axis, offset, offset + size));
    offset += size;
  }
}

void binaryCrossEntropyGradient(GradientContext& c) {
  ValueId gradient =
      c.builder.op(OpKind::BinaryCrossEntropyGrad, {c.operand(0), c.operand(1), c.dy});
  c.accumulate(0, gradient);
}

void fusedLstmCellGradient(GradientContext& c) {
  int64_t batch = c.operandShape(1)[0], units = c.operandShape(1)[1];
  int64_t gates = 4 * batch * units;
  ValueId both =
      c.builder.op(OpKind::FusedLstmCellGrad, {c.operand(0), c.operand(1), c.dy}, c.op.attributes);
  if (c.needs(0))
    c.accumulate(0, c.builder.reshape(c.builder.slice(both, 0, 0, gates), {batch, 4 * units}));
  if (c.needs(1))
    c.accumulate(1, c.builder.reshape(c.builder.slice(both, 0, gates, gates + batch * units),
                                      {batch, units}));
}

/// d(act(x))/dx · dy, from the activation's input x and output y.
ValueId activationGradient(ir::Builder& builder, ir::Activation activation, ValueId x, ValueId y,
                           ValueId dy) {
  switch (activation) {
    case ir::Activation::Linear: return dy;
    case ir::Activation::Sigmoid: return builder.op(OpKind::SigmoidGrad, {y, dy});
    case ir::Activation::HardSigmoid: return builder.op(OpKind::HardSigmoidGrad, {x, dy});
    case ir::Activation::Tanh: return builder.op(OpKind::TanhGrad, {y, dy});
    case ir::Activation::Relu: return builder.op(OpKind::ReluGrad, {x, dy});
  }
  return dy;
}

// The backward of the fused dot and dense layer, in plain ops: it is as cheap as the forward
// (B x U work), and the products feed the LSTM's backward. After autodiff, fuse-dot-dense-loss
// (passes/fuse_dot_dense_loss.cpp) matches these very ops to fuse them with the loss.
void fusedDotDenseGradient(GradientContext& c) {
  ir::Builder& b = c.builder;
  ValueId left = c.operand(0), right = c.operand(1), kernel = c.operand(2);
  ValueId product = b.mul(left, right);
  ValueId dot = b.reduceSum(product, {1}, true);
  auto activation = static_cast<ir::Activation>(c.op.attributes.getInt("activation"));
  // Only hard_sigmoid's and relu's gradients read the pre-activation.
  bool readsInput = activation == ir::Activation::HardSigmoid || activation == ir::Activation::Relu;
  ValueId preactivation = readsInput ? b.add(b.matmul(dot, kernel), c.operand(3)) : ir::kNoValue;
  ValueId dpre = activationGradient(b, activation, preactivation, c.op.result, c.dy);

  if (c.needs(2)) c.accumulate(2, b.matmul(dot, dpre, true, false));
  if (c.needs(3)) c.accumulate(3, b.reduceSum(dpre, {0}, false));
  ValueId ddot = b.matmul(dpre, kernel, false, true);
  if (c.needs(0)) c.accumulate(0, b.mul(ddot, right));
  if (c.needs(1)) c.accumulate(1, b.mul(ddot, left));
}

// The backward of an embedding lookup fused with a product: the table's gradient is scattered
// straight from dy · bᵀ, and b's is the gathered rows' transpose times dy, both without the rows
// ever held whole. Only the untransposed form appears in forward graphs.
void fusedGatherMatMulGradient(GradientContext& c) {
  if (c.op.attributes.getInt("transpose_a", 0) != 0)
    fail("layer '{}': autodiff: no gradient rule for a transposed fused_gather_matmul",
         c.op.origin);
  int64_t rows = c.operandShape(0)[0];
  if (c.needs(0))
    c.accumulate(0, c.builder.op(OpKind::FusedMatMulScatterAdd, {c.operand(1), c.dy, c.operand(2)},
                                 {{"rows", rows}}));
  if (c.needs(2))
    c.accumulate(2, c.builder.op(OpKind::FusedGatherMatMul, {c.operand(0), c.operand(1), c.dy},
                                 {{"transpose_a", int64_t{1}}}));
}

std::array<GradientRule, ir::kOpKindCount> makeTable() {
  std::array<GradientRule, ir::kOpKindCount> table{};
  auto set = [&](OpKind kind, GradientRule rule) { table[static_cast<size_t>(kind)] = rule; };
  set(OpKind::Gather, gatherGradient);
  set(OpKind::ScatterAdd, scatterAddGradient);
  set(OpKind::MatMul, matMulGradient);
  set(OpKind::Add, addGradient);
  set(OpKind::Sub, subGradient);
  set(OpKind::Mul, mulGradient);
  set(OpKind::Div, divGradient);
  set(OpKind::Neg, negGradient);
  set(OpKind::Scale, scaleGradient);
  set(OpKind::Sigmoid, sigmoidGradient);
  set(OpKind::HardSigmoid, hardSigmoidGradient);
  set(OpKind::Tanh, tanhGradient);
  set(OpKind::Relu, reluGradient);
  set(OpKind::Exp, expGradient);
  set(OpKind::Log, logGradient);
  set(OpKind::Sqrt, sqrtGradient);
  set(OpKind::ReduceSum, reduceSumGradient);
  set(OpKind::BroadcastTo, broadcastToGradient);
  set(OpKind::Reshape, reshapeGradient);
  set(OpKind::Transpose, transposeGradient);
  set(OpKind::Slice, sliceGradient);
  set(OpKind::Pad, padGradient);
  set(OpKind::Concat, concatGradient);
  set(OpKind::BinaryCrossEntropy, binaryCrossEntropyGradient);
  set(OpKind::FusedLstmCell, fusedLstmCellGradient);
  set(OpKind::FusedDotDense, fusedDotDenseGradient);
  set(OpKind::FusedGatherMatMul, fusedGatherMatMulGradient);
  return table;
}

}  // namespace

GradientRule gradientRule(OpKind kind) {
  static const std::array<GradientRule, ir::kOpKindCount> table = makeTable();
  return table[static_cast<size_t>(kind)];
}

}  // namespace dlc::passes
