// Layers that merge several tensors: Dot, Add, Subtract, Multiply, Concatenate.
#include "frontend/layers/layer_kinds.h"

namespace dlc::layers {

namespace {

void checkSameShapes(LayerCheck& check) {
  requireFloatInputs(check);
  for (const LayerTensor& input : check.inputs)
    if (input.shape != check.inputs[0].shape)
      check.fail("expects inputs of the same shape, got " +
                 formatLayerShape(check.inputs[0].shape) + " and " + formatLayerShape(input.shape));
  check.output = check.inputs[0];
}

ir::ValueId lowerFold(LayerLowering& lowering, ir::OpKind kind) {
  ir::ValueId result = lowering.inputs[0];
  for (size_t i = 1; i < lowering.inputs.size(); ++i)
    result = lowering.builder.op(kind, {result, lowering.inputs[i]});
  return result;
}

int64_t normalizeAxis(const LayerCheck& check, int64_t axis, size_t rank) {
  int64_t normalized = axis < 0 ? axis + static_cast<int64_t>(rank) : axis;
  if (normalized <= 0 || normalized >= static_cast<int64_t>(rank))
    check.fail("axis " + std::to_string(axis) + " is not a feature axis of " +
               std::to_string(rank) + "-d inputs");
  return normalized;
}

}  // namespace

void checkAdd(LayerCheck& check) { checkSameShapes(check); }
void checkSubtract(LayerCheck& check) { checkSameShapes(check); }
void checkMultiply(LayerCheck& check) { checkSameShapes(check); }
ir::ValueId lowerAdd(LayerLowering& lowering) { return lowerFold(lowering, ir::OpKind::Add); }
ir::ValueId lowerSubtract(LayerLowering& lowering) { return lowerFold(lowering, ir::OpKind::Sub); }
ir::ValueId lowerMultiply(LayerLowering& lowering) { return lowerFold(lowering, ir::OpKind::Mul); }

// Dot of two vectors per sample: (batch, n) · (batch, n) -> (batch, 1).
// Not supported yet: inputs of rank 3 (a batched matrix product).
void checkDot(LayerCheck& check) {
  const auto& options = requireOptions(check, check.layer.dot, "dot");
  requireFloatInputs(check);
  const LayerTensor& left = check.inputs[0];
  const LayerTensor& right = check.inputs[1];
  if (left.shape.size() != 2 || right.shape.size() != 2)
    check.fail("supports rank-2 inputs (batch, features), got " + formatLayerShape(left.shape) +
               " and " + formatLayerShape(right.shape));
  for (int axis : options.axes) normalizeAxis(check, axis, 2);
  if (options.axes.size() > 2) check.fail("axes takes one or two values");
  if (left.shape[1] != right.shape[1])
    check.fail("the dotted axes differ in size: " + formatLayerShape(left.shape) + " and " +
               formatLayerShape(right.shape));
  check.output.shape = {-1, 1};
}

ir::ValueId lowerDot(LayerLowering& lowering) {
  ir::Builder& b = lowering.builder;
  ir::ValueId left = lowering.inputs[0];
  ir::ValueId right = lowering.inputs[1];
  if (lowering.layer.dot->normalize) {
    // x / sqrt(sum(x^2) + 1e-12): Keras's l2_normalize takes max(sum, 1e-12) instead.
    auto normalize = [&](ir::ValueId x) {
      ir::ValueId squares = b.reduceSum(b.mul(x, x), {1}, true);
      return b.div(x, b.unary(ir::OpKind::Sqrt, b.add(squares, b.fill({}, 1e-12))));
    };
    left = normalize(left);
    right = normalize(right);
  }
  return b.reduceSum(b.mul(left, right), {1}, true);
}

void checkConcatenate(LayerCheck& check) {
  requireFloatInputs(check);
  int axis = check.layer.concatenate ? check.layer.concatenate->axis : -1;
  size_t rank = check.inputs[0].shape.size();
  int64_t normalized = normalizeAxis(check, axis, rank);
  check.output = check.inputs[0];
  check.output.shape[normalized] = 0;
  for (const LayerTensor& input : check.inputs) {
    Shape expected = check.inputs[0].shape;
    expected[normalized] = input.shape.size() == rank ? input.shape[normalized] : -2;
    if (input.shape != expected)
      check.fail("inputs must agree except on axis " + std::to_string(axis) + ", got " +
                 formatLayerShape(check.inputs[0].shape) + " and " + formatLayerShape(input.shape));
    check.output.shape[normalized] += input.shape[normalized];
  }
}

ir::ValueId lowerConcatenate(LayerLowering& lowering) {
  int axis = lowering.layer.concatenate ? lowering.layer.concatenate->axis : -1;
  int64_t rank = static_cast<int64_t>(lowering.builder.shape(lowering.inputs[0]).size());
  return lowering.builder.concat(lowering.inputs, axis < 0 ? axis + rank : axis);
}

}  // namespace dlc::layers
