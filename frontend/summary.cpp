#include "frontend/summary.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace dlc {

namespace {

constexpr int kLineLength = 98;
constexpr int kColumnEnds[] = {32, 54, 66, 98};  // Keras's positions for functional models

std::string outputShapeText(const LayerAnalysis& layer) {
  std::string shape = formatLayerShape(layer.outputs[0].shape);
  if (layer.layer->kind == schema::LayerKind::Input) return "[" + shape + "]";
  for (const LayerTensor& output : layer.outputs)
    if (output.shape != layer.outputs[0].shape) return "multiple";
  return shape;
}

/// Keras names a tensor "layer[call][0]".
std::vector<std::string> connections(const schema::LayerT& layer) {
  std::vector<std::string> refs;
  for (const std::string& input : layer.inputs) {
    TensorReference reference = parseTensorReference(input);
    refs.push_back(fmt::format("'{}[{}][0]'", reference.layer, reference.call));
  }
  return refs;
}

std::string formatRow(const std::vector<std::string>& cells) {
  std::string line;
  for (size_t column = 0; column < cells.size(); ++column) {
    line += cells[column];
    int end = kColumnEnds[column];
    if (static_cast<int>(line.size()) >= end && column + 1 < cells.size()) line += " ";
    while (static_cast<int>(line.size()) < end && column + 1 < cells.size()) line += ' ';
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line + "\n";
}

std::string megabytes(int64_t bytes) {
  return fmt::format("{:.2f} MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

}  // namespace

std::string withThousands(int64_t number) {
  std::string digits = std::to_string(number < 0 ? -number : number);
  std::string result;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) result += ',';
    result += digits[i];
  }
  return number < 0 ? "-" + result : result;
}

std::string formatSummary(const schema::ModelT& model, const ModelAnalysis& analysis) {
  std::string rule(kLineLength, '_');
  std::string text = fmt::format("Model: \"{}\"\n{}\n", model.name, rule);
  text += formatRow({" Layer (type)", "Output Shape", "Param #", "Connected to"});
  text += std::string(kLineLength, '=') + "\n";

  for (const LayerAnalysis& layer : analysis.layers) {
    std::vector<std::string> refs = connections(*layer.layer);
    // Several inputs: the first on the layer's line, each further one on a line of its own.
    std::string first = refs.empty() ? "[]" : "[" + refs[0] + (refs.size() > 1 ? "," : "]");
    text += formatRow({fmt::format(" {} ({})", layer.layer->name, layer.typeName),
                       outputShapeText(layer), withThousands(layer.parameterCount), first});
    for (size_t i = 1; i < refs.size(); ++i)
      text += formatRow({"", "", "", " " + refs[i] + (i + 1 < refs.size() ? "," : "]")});
  }

  int64_t nonTrainable = analysis.totalParameters - analysis.trainableParameters;
  text += std::string(kLineLength, '=') + "\n";
  text += fmt::format("Total params: {} ({})\n", withThousands(analysis.totalParameters),
                      megabytes(analysis.totalParameters * 4));
  text += fmt::format("Trainable params: {} ({})\n", withThousands(analysis.trainableParameters),
                      megabytes(analysis.trainableParameters * 4));
  text += fmt::format("Non-trainable params: {} ({})\n", withThousands(nonTrainable),
                      megabytes(nonTrainable * 4));
  return text + rule + "\n";
}

nlohmann::json summaryJson(const schema::ModelT& model, const ModelAnalysis& analysis) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerAnalysis& layer : analysis.layers) {
    nlohmann::json shape = nlohmann::json::array();
    for (int64_t size : layer.outputs[0].shape)
      shape.push_back(size < 0 ? nlohmann::json(nullptr) : nlohmann::json(size));
    layers.push_back({{"name", layer.layer->name},
                      {"type", layer.typeName},
                      {"output_shape", shape},
                      {"params", layer.parameterCount},
                      {"connected_to", layer.layer->inputs},
                      {"trainable", layer.layer->trainable}});
  }
  return {{"name", model.name},
          {"layers", layers},
          {"total_params", analysis.totalParameters},
          {"trainable_params", analysis.trainableParameters},
          {"non_trainable_params", analysis.totalParameters - analysis.trainableParameters},
          {"weight_bytes", analysis.totalParameters * 4}};
}

}  // namespace dlc
