#include "frontend/lowering.h"

#include "ir/builder.h"
#include "support/error.h"

namespace dlc {

namespace {

ir::ValueId lowerLoss(ir::Builder& builder, schema::LossKind loss, ir::ValueId predictions,
                      ir::ValueId labels) {
  switch (loss) {
    case schema::LossKind::BinaryCrossentropy:
      return builder.op(ir::OpKind::BinaryCrossEntropy, {predictions, labels});
    case schema::LossKind::MeanSquaredError: {
      ir::ValueId error = builder.sub(predictions, labels);
      const Shape& shape = builder.shape(error);
      Shape axes(shape.size());
      for (size_t axis = 0; axis < shape.size(); ++axis) axes[axis] = static_cast<int64_t>(axis);
      return builder.scale(builder.reduceSum(builder.mul(error, error), axes, false),
                           1.0 / static_cast<double>(numElements(shape)));
    }
  }
  fail("unknown loss kind {}", static_cast<int>(loss));
}

}  // namespace

ir::Graph lowerModel(const schema::ModelT& model, const ModelAnalysis& analysis,
                     const LoweringOptions& options) {
  ir::Graph graph(model.name.empty() ? "model" : model.name);
  ir::Builder builder(graph, "");

  std::map<std::string, ir::ValueId> weights;
  for (const WeightSpec& spec : analysis.allWeights())
    weights[spec.name] = graph.addWeight(spec.name, {DType::Float32, spec.shape}, spec.trainable);

  // Outputs of every call of every layer, by layer name.
  std::map<std::string, std::vector<ir::ValueId>> layerOutputs;
  auto resolve = [&](const std::string& referenceText) {
    TensorReference reference = parseTensorReference(referenceText);
    return layerOutputs.at(reference.layer).at(reference.call);
  };

  for (const LayerAnalysis& layer : analysis.layers) {
    const schema::LayerT& definition = *layer.layer;
    const LayerRule& rule = layerRule(definition.kind);
    builder.setOrigin(definition.name);
    std::vector<ir::ValueId>& outputs = layerOutputs[definition.name];

    if (definition.kind == schema::LayerKind::Input) {
      Shape shape = layer.outputs[0].shape;
      shape[0] = options.batchSize;
      outputs.push_back(graph.addInput(definition.name, {layer.outputs[0].dtype, shape}));
      continue;
    }

    std::vector<std::vector<ir::ValueId>> calls;
    if (rule.mergesInputs) {
      calls.emplace_back();
      for (const std::string& input : definition.inputs) calls.back().push_back(resolve(input));
    } else {
      for (const std::string& input : definition.inputs) calls.push_back({resolve(input)});
    }
    for (std::vector<ir::ValueId>& callInputs : calls) {
      LayerLowering lowering{builder, definition, std::move(callInputs), weights, options.withLoss};
      outputs.push_back(rule.lower(lowering));
    }
  }

  for (const std::string& output : model.outputs) graph.addOutput(output, resolve(output));

  if (options.withLoss) {
    ir::ValueId predictions = resolve(model.outputs.front());
    ir::ValueId labels = graph.addInput(kLabelsInput, graph.type(predictions));
    builder.setOrigin("loss");
    schema::LossKind loss =
        model.training ? model.training->loss : schema::LossKind::BinaryCrossentropy;
    graph.addOutput(kLossOutput, lowerLoss(builder, loss, predictions, labels));
  }
  return graph;
}

}  // namespace dlc
