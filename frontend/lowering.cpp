#include "frontend/lowering.h"

#include <algorithm>

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

/// When `inputs` are calls 0..n-1, in order, of a layer lowered on stacked calls: its stacked
/// result, which is them already stacked. kNoValue otherwise.
ir::ValueId stackedResultOf(const std::vector<std::string>& inputs,
                            const std::map<std::string, ir::ValueId>& stackedOutputs,
                            const std::map<std::string, std::vector<ir::ValueId>>& layerOutputs) {
  std::string layer = parseTensorReference(inputs[0]).layer;
  auto found = stackedOutputs.find(layer);
  if (found == stackedOutputs.end() || inputs.size() != layerOutputs.at(layer).size())
    return ir::kNoValue;
  for (size_t call = 0; call < inputs.size(); ++call) {
    TensorReference reference = parseTensorReference(inputs[call]);
    if (reference.layer != layer || reference.call != static_cast<int>(call)) return ir::kNoValue;
  }
  return found->second;
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
  // Layers lowered once on stacked calls: the stacked result, whose slices are the calls'.
  std::map<std::string, ir::ValueId> stackedOutputs;

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
    auto lowerCall = [&](std::vector<ir::ValueId> callInputs) {
      LayerLowering lowering{builder, definition, std::move(callInputs), weights, options.withLoss};
      return rule.lower(lowering);
    };

    // A shared layer's calls on tensors of one type run once, stacked along the batch.
    bool stack = options.stackSharedCalls && calls.size() > 1 &&
                 std::all_of(calls.begin(), calls.end(), [&](const auto& call) {
                   return graph.type(call[0]) == graph.type(calls[0][0]);
                 });
    if (!stack) {
      for (std::vector<ir::ValueId>& callInputs : calls)
        outputs.push_back(lowerCall(std::move(callInputs)));
      continue;
    }

    ir::ValueId stacked = stackedResultOf(definition.inputs, stackedOutputs, layerOutputs);
    if (stacked == ir::kNoValue) {
      std::vector<ir::ValueId> parts;
      for (const std::vector<ir::ValueId>& call : calls) parts.push_back(call[0]);
      stacked = builder.concat(parts, 0);
    }
    ir::ValueId result = lowerCall({stacked});
    stackedOutputs[definition.name] = result;
    int64_t rows = graph.type(calls[0][0]).shape[0];
    for (size_t call = 0; call < calls.size(); ++call) {
      int64_t start = static_cast<int64_t>(call) * rows;
      outputs.push_back(builder.slice(result, 0, start, start + rows));
    }
  }

  for (const std::string& output : model.outputs) graph.addOutput(output, resolve(output));

  if (options.withLoss) {
    ir::ValueId predictions = resolve(model.outputs.front());
    ir::ValueId labels = graph.addInput(kLabelsInput, graph.type(predictions));
    builder.setOrigin("loss");
    graph.addOutput(kLossOutput, lowerLoss(builder, lossOf(model), predictions, labels));
  }
  return graph;
}

schema::LossKind lossOf(const schema::ModelT& model) {
  return model.training ? model.training->loss : schema::LossKind::BinaryCrossentropy;
}

}  // namespace dlc
