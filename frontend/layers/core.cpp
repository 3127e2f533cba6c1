// Layers without weights that act on one tensor: Input, Activation, Dropout, Flatten.
#include "frontend/layers/layer_kinds.h"
#include "support/error.h"

namespace dlc::layers {

void requireFloatInputs(const LayerCheck& check) {
  for (const LayerTensor& input : check.inputs)
    if (input.dtype != DType::Float32)
      check.fail("expects float inputs, got integer ids (does it need an Embedding first?)");
}

void checkInput(LayerCheck& check) {
  const auto& options = requireOptions(check, check.layer.input, "input");
  if (options.shape.empty()) check.fail("needs the shape of one sample, e.g. [20]");
  for (int64_t size : options.shape)
    if (size <= 0) check.fail("the sizes in its shape must be positive");
  check.output.dtype = options.dtype == schema::DType::Int32 ? DType::Int32 : DType::Float32;
  check.output.shape = {-1};
  check.output.shape.insert(check.output.shape.end(), options.shape.begin(), options.shape.end());
}

ir::ValueId lowerInput(LayerLowering& lowering) { return lowering.inputs[0]; }

void checkActivation(LayerCheck& check) {
  requireOptions(check, check.layer.activation, "activation");
  requireFloatInputs(check);
  check.output = check.inputs[0];
}

ir::ValueId lowerActivation(LayerLowering& lowering) {
  return dlc::lowerActivation(lowering.builder, lowering.layer.activation->activation,
                              lowering.inputs[0]);
}

void checkDropout(LayerCheck& check) {
  requireOptions(check, check.layer.dropout, "dropout");
  float rate = check.layer.dropout->rate;
  if (!(rate >= 0 && rate < 1)) check.fail("rate must be in [0, 1)");
  requireFloatInputs(check);
  check.output = check.inputs[0];
}

// Dropout is the identity at inference. Not supported yet: dropping units while training (the
// layer is the identity then too).
ir::ValueId lowerDropout(LayerLowering& lowering) { return lowering.inputs[0]; }

void checkFlatten(LayerCheck& check) {
  check.output = check.inputs[0];
  Shape features(check.inputs[0].shape.begin() + 1, check.inputs[0].shape.end());
  check.output.shape = {-1, numElements(features)};
}

ir::ValueId lowerFlatten(LayerLowering& lowering) {
  const Shape& shape = lowering.builder.shape(lowering.inputs[0]);
  return lowering.builder.reshape(lowering.inputs[0], {shape[0], numElements(shape) / shape[0]});
}

}  // namespace dlc::layers

namespace dlc {

ir::ValueId lowerActivation(ir::Builder& builder, schema::ActivationKind activation,
                            ir::ValueId input) {
  switch (activation) {
    case schema::ActivationKind::Linear: return input;
    case schema::ActivationKind::Sigmoid: return builder.unary(ir::OpKind::Sigmoid, input);
    case schema::ActivationKind::HardSigmoid: return builder.unary(ir::OpKind::HardSigmoid, input);
    case schema::ActivationKind::Tanh: return builder.unary(ir::OpKind::Tanh, input);
    case schema::ActivationKind::Relu: return builder.unary(ir::OpKind::Relu, input);
  }
  dlc::fail("unknown activation {}", static_cast<int>(activation));
}

}  // namespace dlc
