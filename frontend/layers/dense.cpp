// Dense: x · kernel + bias, then the activation, on the last axis of an input of any rank.
#include "frontend/layers/layer_kinds.h"

namespace dlc::layers {

void checkDense(LayerCheck& check) {
  const auto& options = requireOptions(check, check.layer.dense, "dense");
  requireFloatInputs(check);
  const LayerTensor& input = check.inputs[0];
  if (input.shape.size() < 2)
    check.fail("expects an input of rank 2 or more, got " + formatLayerShape(input.shape));
  if (options.units <= 0) check.fail("units must be positive");

  const std::string& name = check.layer.name;
  check.weights.push_back(
      {name + "/kernel", {input.shape.back(), options.units}, Initializer::GlorotUniform});
  if (options.use_bias) check.weights.push_back({name + "/bias", {options.units}});
  check.output.shape = input.shape;
  check.output.shape.back() = options.units;
}

ir::ValueId lowerDense(LayerLowering& lowering) {
  const auto& options = *lowering.layer.dense;
  ir::Builder& b = lowering.builder;
  ir::ValueId input = lowering.inputs[0];
  Shape inputShape = b.shape(input);

  // A rank-3 input (a sequence) is folded into rows so that the product acts on the last axis.
  int64_t features = inputShape.back();
  ir::ValueId rows = b.reshape(input, {numElements(inputShape) / features, features});
  ir::ValueId output = b.matmul(rows, lowering.weight("kernel"));
  if (options.use_bias) output = b.add(output, lowering.weight("bias"));

  Shape outputShape = inputShape;
  outputShape.back() = options.units;
  return dlc::lowerActivation(b, options.activation, b.reshape(output, outputShape));
}

}  // namespace dlc::layers
