#include "frontend/layers.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <set>

#include "frontend/layers/layer_kinds.h"
#include "frontend/model_checks.h"
#include "support/error.h"
#include "support/memory_limit.h"

namespace dlc {

namespace {

using schema::LayerKind;

// One row per layer kind: adding a layer kind means adding it to the schema, writing its
// check and lower functions in frontend/layers/, and adding its row here.
#define DLC_LAYER(Kind, typeName, merges, minInputs, maxInputs)                    \
  LayerRule {                                                                      \
    LayerKind::Kind, typeName, merges, minInputs, maxInputs, &layers::check##Kind, \
        &layers::lower##Kind                                                       \
  }

const std::array kLayerRules = {
    DLC_LAYER(Input, "InputLayer", false, 0, 0),
    DLC_LAYER(Embedding, "Embedding", false, 1, -1),
    DLC_LAYER(LSTM, "LSTM", false, 1, -1),
    DLC_LAYER(Dot, "Dot", true, 2, 2),
    DLC_LAYER(Dense, "Dense", false, 1, -1),
    DLC_LAYER(Activation, "Activation", false, 1, -1),
    DLC_LAYER(Dropout, "Dropout", false, 1, -1),
    DLC_LAYER(Concatenate, "Concatenate", true, 2, -1),
    DLC_LAYER(Add, "Add", true, 2, -1),
    DLC_LAYER(Subtract, "Subtract", true, 2, 2),
    DLC_LAYER(Multiply, "Multiply", true, 2, -1),
    DLC_LAYER(Flatten, "Flatten", false, 1, -1),
};
#undef DLC_LAYER

bool isKnownKind(LayerKind kind) {
  for (const LayerRule& rule : kLayerRules)
    if (rule.kind == kind) return true;
  return false;
}

bool isKnownActivation(schema::ActivationKind activation) {
  return activation >= schema::ActivationKind::MIN && activation <= schema::ActivationKind::MAX;
}

/// Enum fields of a binary file may hold values this build does not know.
void checkEnums(const LayerCheck& check) {
  const schema::LayerT& layer = check.layer;
  if (layer.lstm && (!isKnownActivation(layer.lstm->activation) ||
                     !isKnownActivation(layer.lstm->recurrent_activation)))
    check.fail("has an unknown activation");
  if (layer.dense && !isKnownActivation(layer.dense->activation))
    check.fail("has an unknown activation");
  if (layer.activation && !isKnownActivation(layer.activation->activation))
    check.fail("has an unknown activation");
}

/// The number of elements of `shape` (a leading batch axis of -1 counts as 1), or -1 if a size
/// is not positive or the count passes kMaxTensorElements.
int64_t boundedElementCount(const Shape& shape, bool hasBatchAxis) {
  int64_t count = 1;
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    int64_t size = shape[axis];
    if (hasBatchAxis && axis == 0 && size == -1) continue;
    if (size <= 0 || size > kMaxTensorElements / count) return -1;
    count *= size;
  }
  return count;
}

/// Sizes from a file may be anything: refuse what would overflow or not fit in memory.
void checkSizes(const LayerCheck& check) {
  for (const WeightSpec& weight : check.weights)
    if (boundedElementCount(weight.shape, false) < 0)
      check.fail(fmt::format("its weight '{}' of shape {} must have between 1 and {} elements",
                             weight.name, formatShape(weight.shape), kMaxTensorElements));
  if (boundedElementCount(check.output.shape, true) < 0)
    check.fail(fmt::format("its output {} must have between 1 and {} elements per sample",
                           formatLayerShape(check.output.shape), kMaxTensorElements));
}

/// An options table of a layer, and the kind that reads it.
struct OptionsField {
  const char* field;
  bool present;
  LayerKind reader;
};

/// Options meant for another kind ("dense" options on an LSTM) are a mistake to report, not
/// to ignore.
void checkOptionsBelong(const LayerCheck& check) {
  const schema::LayerT& layer = check.layer;
  const std::array<OptionsField, 8> fields = {{
      {"input", layer.input != nullptr, LayerKind::Input},
      {"embedding", layer.embedding != nullptr, LayerKind::Embedding},
      {"lstm", layer.lstm != nullptr, LayerKind::LSTM},
      {"dot", layer.dot != nullptr, LayerKind::Dot},
      {"dense", layer.dense != nullptr, LayerKind::Dense},
      {"activation", layer.activation != nullptr, LayerKind::Activation},
      {"dropout", layer.dropout != nullptr, LayerKind::Dropout},
      {"concatenate", layer.concatenate != nullptr, LayerKind::Concatenate},
  }};
  for (const OptionsField& options : fields)
    if (options.present && options.reader != layer.kind)
      check.fail(fmt::format("has '{}' options, which only a {} layer takes", options.field,
                             layerRule(options.reader).typeName));
}

}  // namespace

const LayerRule& layerRule(schema::LayerKind kind) {
  for (const LayerRule& rule : kLayerRules)
    if (rule.kind == kind) return rule;
  fail("unknown layer kind {}", static_cast<int>(kind));
}

void LayerCheck::fail(const std::string& message) const {
  const char* type = isKnownKind(layer.kind) ? layerRule(layer.kind).typeName : "?";
  dlc::fail("{}: layer '{}' ({}): {}", source, layer.name, type, message);
}

ir::ValueId LayerLowering::weight(const std::string& shortName) const {
  auto found = weights.find(layer.name + "/" + shortName);
  if (found == weights.end()) fail("layer '{}': weight '{}' is missing", layer.name, shortName);
  return found->second;
}

TensorReference parseTensorReference(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) return {text, 0};
  std::string digits = text.substr(colon + 1);
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 6)
    return {text, 0};
  return {text.substr(0, colon), std::stoi(digits)};
}

std::string formatLayerShape(const Shape& shape) {
  std::vector<std::string> parts;
  for (int64_t size : shape) parts.push_back(size < 0 ? "None" : std::to_string(size));
  return fmt::format("({}{})", fmt::join(parts, ", "), parts.size() == 1 ? "," : "");
}

std::vector<WeightSpec> ModelAnalysis::allWeights() const {
  std::vector<WeightSpec> weights;
  for (const LayerAnalysis& layer : layers)
    weights.insert(weights.end(), layer.weights.begin(), layer.weights.end());
  return weights;
}

const LayerAnalysis& ModelAnalysis::layer(const std::string& name) const {
  return layers[layerIndex.at(name)];
}

ModelAnalysis analyzeModel(const schema::ModelT& model, const std::string& source) {
  ModelAnalysis analysis;
  analysis.source = source;
  if (model.layers.empty()) fail("{}: the model has no layers", source);
  int64_t weightBytes = 0;

  for (const auto& layerPointer : model.layers) {
    const schema::LayerT& layer = *layerPointer;
    if (layer.name.empty()) fail("{}: a layer has an empty name", source);
    if (!isKnownKind(layer.kind))
      fail("{}: layer '{}' has an unknown kind {} (written by a newer dlc?)", source, layer.name,
           static_cast<int>(layer.kind));
    const LayerRule& rule = layerRule(layer.kind);
    LayerCheck check{layer, source, {}, {}, {}};
    checkEnums(check);
    checkOptionsBelong(check);

    if (analysis.layerIndex.count(layer.name))
      check.fail("the name is used by an earlier layer; layer names must be unique");
    int inputCount = static_cast<int>(layer.inputs.size());
    if (inputCount < rule.minInputs || (rule.maxInputs >= 0 && inputCount > rule.maxInputs))
      check.fail(fmt::format("takes {} input{}, got {}",
                             rule.minInputs == rule.maxInputs
                                 ? std::to_string(rule.minInputs)
                                 : fmt::format("at least {}", rule.minInputs),
                             rule.minInputs == 1 && rule.maxInputs == 1 ? "" : "s", inputCount));

    for (const std::string& inputName : layer.inputs) {
      TensorReference reference = parseTensorReference(inputName);
      auto producer = analysis.layerIndex.find(reference.layer);
      if (producer == analysis.layerIndex.end()) {
        bool later = std::any_of(model.layers.begin(), model.layers.end(),
                                 [&](const auto& other) { return other->name == reference.layer; });
        check.fail(later ? fmt::format("input '{}' comes later; layers must be listed in "
                                       "topological order (no cycles)",
                                       reference.layer)
                         : fmt::format("input '{}' is not a layer of this model", reference.layer));
      }
      const LayerAnalysis& producerLayer = analysis.layers[producer->second];
      if (reference.call >= static_cast<int>(producerLayer.outputs.size()))
        check.fail(fmt::format("input '{}': layer '{}' is called only {} time(s)", inputName,
                               reference.layer, producerLayer.outputs.size()));
      check.inputs.push_back(producerLayer.outputs[reference.call]);
    }

    // A shared layer is checked on its first call; every other call must look the same.
    LayerAnalysis result{&layer, rule.typeName, {}, {}, 0};
    std::vector<LayerTensor> allInputs = check.inputs;
    if (!rule.mergesInputs && !allInputs.empty()) check.inputs = {allInputs[0]};
    rule.check(check);
    size_t calls = rule.mergesInputs || allInputs.empty() ? 1 : allInputs.size();
    for (size_t call = 0; call < calls; ++call) {
      if (!rule.mergesInputs && !allInputs.empty() &&
          (allInputs[call].shape != allInputs[0].shape ||
           allInputs[call].dtype != allInputs[0].dtype))
        check.fail(fmt::format("is shared, so every input must have the same shape; got {} and {}",
                               formatLayerShape(allInputs[0].shape),
                               formatLayerShape(allInputs[call].shape)));
      result.outputs.push_back(check.output);
    }

    // Sizes come from the file: refuse what would not fit in memory before anyone allocates it.
    for (WeightSpec& weight : check.weights) {
      std::optional<int64_t> bytes = tensorBytes(weight.shape, DType::Float32);
      checkMemory(bytes, fmt::format("{}: layer '{}' ({}): the weight '{}' {}", source, layer.name,
                                     rule.typeName, weight.name, formatShape(weight.shape)));
      weightBytes = saturatingAdd(weightBytes, *bytes);
      weight.trainable = layer.trainable;
      result.parameterCount += numElements(weight.shape);
    }
    Shape sample(check.output.shape.begin() + (check.output.shape.empty() ? 0 : 1),
                 check.output.shape.end());
    checkMemory(tensorBytes(sample, check.output.dtype),
                fmt::format("{}: layer '{}' ({}): one sample of its output {}", source, layer.name,
                            rule.typeName, formatLayerShape(check.output.shape)));
    // After the memory limit, whose message gives the figure: this catches what would fit in
    // memory but not in kMaxTensorElements.
    checkSizes(check);
    result.weights = std::move(check.weights);
    analysis.totalParameters += result.parameterCount;
    if (layer.trainable) analysis.trainableParameters += result.parameterCount;
    analysis.layerIndex[layer.name] = static_cast<int>(analysis.layers.size());
    analysis.layers.push_back(std::move(result));
  }

  checkMemory(weightBytes, fmt::format("{}: the model's weights", source));

  std::set<std::string> inputNames(model.inputs.begin(), model.inputs.end());
  for (const std::string& name : model.inputs) {
    auto found = analysis.layerIndex.find(name);
    if (found == analysis.layerIndex.end() ||
        analysis.layers[found->second].layer->kind != LayerKind::Input)
      fail("{}: model input '{}' is not an Input layer", source, name);
  }
  for (const LayerAnalysis& layer : analysis.layers)
    if (layer.layer->kind == LayerKind::Input && !inputNames.count(layer.layer->name))
      fail("{}: Input layer '{}' is not listed in the model's inputs", source, layer.layer->name);
  if (model.outputs.empty()) fail("{}: the model names no outputs", source);
  for (const std::string& name : model.outputs) {
    TensorReference reference = parseTensorReference(name);
    auto found = analysis.layerIndex.find(reference.layer);
    if (found == analysis.layerIndex.end() ||
        reference.call >= static_cast<int>(analysis.layers[found->second].outputs.size()))
      fail("{}: model output '{}' is not a layer of this model", source, name);
  }
  checkModelSettings(model, analysis);
  return analysis;
}

}  // namespace dlc
