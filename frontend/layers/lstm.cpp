// LSTM, as Keras defines it, unrolled over the (static) time steps.
//
// Gates are packed along the last weight axis in the order i, f, c, o:
//   z = x_t · kernel + h · recurrent_kernel + bias
//   c' = σ(z_f) ⊙ c + σ(z_i) ⊙ act(z_c),   h' = σ(z_o) ⊙ act(c')
// with σ the recurrent activation and a zero initial state.
// Not supported yet: masking, dropout inside the cell, go_backwards, stateful, and sequences of
// more than kMaxSteps steps (the loop is unrolled into ops: their number grows with the steps).
#include <fmt/format.h>

#include "frontend/layers/layer_kinds.h"

namespace dlc::layers {

namespace {
constexpr int64_t kMaxSteps = 10000;
}  // namespace

void checkLSTM(LayerCheck& check) {
  const auto& options = requireOptions(check, check.layer.lstm, "lstm");
  requireFloatInputs(check);
  const LayerTensor& input = check.inputs[0];
  if (input.shape.size() != 3)
    check.fail("expects a rank-3 input (batch, steps, features), got " +
               formatLayerShape(input.shape));
  if (options.units <= 0 || options.units > kMaxTensorElements / 4)
    check.fail(fmt::format("units must be between 1 and {}", kMaxTensorElements / 4));
  if (input.shape[1] > kMaxSteps)
    check.fail(fmt::format("unrolls its loop over the time steps: at most {} steps, got {}",
                           kMaxSteps, input.shape[1]));

  int64_t units = options.units;
  int64_t features = input.shape[2];
  const std::string& name = check.layer.name;
  check.weights.push_back({name + "/kernel", {features, 4 * units}, Initializer::GlorotUniform});
  check.weights.push_back(
      {name + "/recurrent_kernel", {units, 4 * units}, Initializer::Orthogonal});
  if (options.use_bias) {
    check.weights.push_back(
        {name + "/bias",
         {4 * units},
         options.unit_forget_bias ? Initializer::LstmBias : Initializer::Zeros});
  }
  check.output.shape =
      options.return_sequences ? Shape{-1, input.shape[1], units} : Shape{-1, units};
}

ir::ValueId lowerLSTM(LayerLowering& lowering) {
  const auto& options = *lowering.layer.lstm;
  ir::Builder& b = lowering.builder;
  ir::ValueId input = lowering.inputs[0];
  int64_t batch = b.shape(input)[0];
  int64_t steps = b.shape(input)[1];
  int64_t features = b.shape(input)[2];
  int64_t units = options.units;

  ir::ValueId kernel = lowering.weight("kernel");
  ir::ValueId recurrentKernel = lowering.weight("recurrent_kernel");
  ir::ValueId bias = options.use_bias ? lowering.weight("bias") : ir::kNoValue;

  ir::ValueId hidden = b.fill({batch, units}, 0.0);
  ir::ValueId cell = b.fill({batch, units}, 0.0);
  std::vector<ir::ValueId> sequence;
  for (int64_t step = 0; step < steps; ++step) {
    ir::ValueId x = b.reshape(b.slice(input, 1, step, step + 1), {batch, features});
    // One statement per op keeps the op order independent of argument evaluation order.
    ir::ValueId inputPart = b.matmul(x, kernel);
    // The state starts at zero: the first step has no recurrent part to multiply.
    ir::ValueId z = inputPart;
    if (step > 0) {
      ir::ValueId recurrentPart = b.matmul(hidden, recurrentKernel);
      z = b.add(inputPart, recurrentPart);
    }
    if (bias != ir::kNoValue) z = b.add(z, bias);

    auto gate = [&](int64_t index, schema::ActivationKind activation) {
      return dlc::lowerActivation(b, activation, b.slice(z, 1, index * units, (index + 1) * units));
    };
    ir::ValueId inputGate = gate(0, options.recurrent_activation);
    ir::ValueId forgetGate = gate(1, options.recurrent_activation);
    ir::ValueId candidate = gate(2, options.activation);
    ir::ValueId outputGate = gate(3, options.recurrent_activation);

    ir::ValueId keptCell = b.mul(forgetGate, cell);
    ir::ValueId newCell = b.mul(inputGate, candidate);
    cell = b.add(keptCell, newCell);
    hidden = b.mul(outputGate, dlc::lowerActivation(b, options.activation, cell));
    if (options.return_sequences) sequence.push_back(b.reshape(hidden, {batch, 1, units}));
  }
  return options.return_sequences ? b.concat(sequence, 1) : hidden;
}

}  // namespace dlc::layers
