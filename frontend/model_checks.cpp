// The checks of a model's settings that no single layer can make: the training section (loss,
// optimizer hyperparameters, batch size, epochs, validation split) and the text preprocessing
// against the layers it feeds (the inputs' shapes, the embeddings' rows). Each error names the
// file, the field or the layer, and what would fit.
#include "frontend/model_checks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "frontend/lowering.h"
#include "support/error.h"

namespace dlc {

namespace {

using schema::LayerKind;

/// A hyperparameter's rule: the field's name in the file and the interval it must lie in.
struct Bound {
  const char* field;
  double value;
  double low;
  bool lowIncluded;
  double high;  // excluded; infinity: no upper bound
};

void checkBound(const Bound& bound, const std::string& source) {
  bool aboveLow = bound.lowIncluded ? bound.value >= bound.low : bound.value > bound.low;
  if (std::isfinite(bound.value) && aboveLow && bound.value < bound.high) return;
  std::string interval =
      std::isinf(bound.high)
          ? fmt::format("{} {}", bound.lowIncluded ? "at least" : "greater than", bound.low)
          : fmt::format("in {}{}, {})", bound.lowIncluded ? "[" : "(", bound.low, bound.high);
  fail("{}: training.{} must be finite and {}, got {}", source, bound.field, interval, bound.value);
}

void checkOptimizer(const schema::OptimizerT& optimizer, const std::string& source) {
  constexpr double kNoLimit = INFINITY;
  checkBound({"optimizer.learning_rate", optimizer.learning_rate, 0, false, kNoLimit}, source);
  switch (optimizer.kind) {
    case schema::OptimizerKind::Adam:
      checkBound({"optimizer.beta_1", optimizer.beta_1, 0, true, 1}, source);
      checkBound({"optimizer.beta_2", optimizer.beta_2, 0, true, 1}, source);
      checkBound({"optimizer.epsilon", optimizer.epsilon, 0, false, kNoLimit}, source);
      return;
    case schema::OptimizerKind::SGD:
      checkBound({"optimizer.momentum", optimizer.momentum, 0, true, 1}, source);
      return;
  }
  fail("{}: training.optimizer.kind {} is unknown (written by a newer dlc?)", source,
       static_cast<int>(optimizer.kind));
}

/// The layer that `name` ("layer" or "layer:k") refers to.
const LayerAnalysis& layerOf(const ModelAnalysis& analysis, const std::string& name) {
  return analysis.layer(parseTensorReference(name).layer);
}

/// The loss reads the first output (and, for question pairs, one label per pair).
void checkLoss(const schema::ModelT& model, const ModelAnalysis& analysis) {
  if (!model.training && !model.preprocessing) return;
  const std::string& source = analysis.source;
  schema::LossKind loss = lossOf(model);
  if (loss != schema::LossKind::BinaryCrossentropy && loss != schema::LossKind::MeanSquaredError)
    fail("{}: training.loss {} is unknown (written by a newer dlc?)", source,
         static_cast<int>(loss));
  TensorReference output = parseTensorReference(model.outputs.front());
  const LayerTensor& predictions = analysis.layer(output.layer).outputs[output.call];
  if (predictions.dtype != DType::Float32)
    fail(
        "{}: the loss is computed on the first output '{}', which holds integer ids, not "
        "predictions",
        source, model.outputs.front());

  // Question pairs come with one 0/1 label each.
  if (model.preprocessing && predictions.shape != Shape{-1, 1})
    fail(
        "{}: layer '{}' ({}): the loss compares the first output {} with one 0/1 label per "
        "question pair, so the output must be (None, 1) (e.g. Dense with 1 unit)",
        source, output.layer, analysis.layer(output.layer).typeName,
        formatLayerShape(predictions.shape));
}

void checkTraining(const schema::TrainingT& training, const std::string& source) {
  if (training.batch_size < 1)
    fail("{}: training.batch_size must be at least 1, got {}", source, training.batch_size);
  if (training.epochs < 1)
    fail("{}: training.epochs must be at least 1, got {}", source, training.epochs);
  checkBound({"validation_split", training.validation_split, 0, true, 1}, source);
  if (training.epochs_done < 0 || training.steps_done < 0)
    fail("{}: training.epochs_done and steps_done must not be negative", source);
  if (training.optimizer) checkOptimizer(*training.optimizer, source);
}

}  // namespace

int64_t largestTokenId(const schema::TextPreprocessingT& preprocessing) {
  // Words have ids 1 .. vocabulary size, and Keras keeps those below num_words.
  auto words = static_cast<int64_t>(preprocessing.vocabulary.size());
  if (preprocessing.num_words == 0) return words;
  int64_t belowLimit = int64_t{preprocessing.num_words} - 1;
  return words == 0 ? belowLimit : std::min(words, belowLimit);
}

namespace {

/// What bounds the word ids, for messages.
std::string tokenIdLimitReason(const schema::TextPreprocessingT& preprocessing) {
  auto words = static_cast<int64_t>(preprocessing.vocabulary.size());
  if (preprocessing.num_words == 0) return fmt::format("a vocabulary of {} words", words);
  if (words == 0 || words >= preprocessing.num_words)
    return fmt::format("preprocessing.num_words {}", preprocessing.num_words);
  return fmt::format("a vocabulary of {} words, below num_words {}", words,
                     preprocessing.num_words);
}

}  // namespace

void checkTextPreprocessing(const schema::ModelT& model, const ModelAnalysis& analysis) {
  if (!model.preprocessing) return;
  const schema::TextPreprocessingT& preprocessing = *model.preprocessing;
  const std::string& source = analysis.source;
  if (preprocessing.num_words < 0)
    fail("{}: preprocessing.num_words must be 0 (keep every word) or positive, got {}", source,
         preprocessing.num_words);
  if (preprocessing.padding_value < 0)
    fail("{}: preprocessing.padding_value must be a token id (>= 0), got {}", source,
         preprocessing.padding_value);
  if (preprocessing.sequence_length <= 0)
    fail("{}: preprocessing.sequence_length must be positive, got {}", source,
         preprocessing.sequence_length);
  if (preprocessing.text_inputs.size() != 2)
    fail("{}: preprocessing.text_inputs must name the two inputs a question pair feeds, got {}",
         source, preprocessing.text_inputs.size());

  int64_t largestId = std::max<int64_t>(largestTokenId(preprocessing), preprocessing.padding_value);
  for (const std::string& input : preprocessing.text_inputs) {
    auto found = analysis.layerIndex.find(input);
    if (found == analysis.layerIndex.end() ||
        analysis.layers[found->second].layer->kind != LayerKind::Input)
      fail("{}: preprocessing.text_inputs names '{}', which is not an Input layer", source, input);
    const LayerTensor& ids = analysis.layers[found->second].outputs[0];
    Shape expected = {-1, preprocessing.sequence_length};
    if (ids.dtype != DType::Int32 || ids.shape != expected)
      fail(
          "{}: layer '{}' (InputLayer): preprocessing.sequence_length is {}, so the input must "
          "take {} token ids (shape [{}], dtype Int32), not {} {}",
          source, input, preprocessing.sequence_length, preprocessing.sequence_length,
          preprocessing.sequence_length, dtypeName(ids.dtype), formatLayerShape(ids.shape));

    // Every embedding that looks the ids up must have a row for each id the tokenizer gives.
    for (const LayerAnalysis& layer : analysis.layers) {
      if (layer.layer->kind != LayerKind::Embedding) continue;
      const std::vector<std::string>& inputs = layer.layer->inputs;
      bool readsInput = std::any_of(inputs.begin(), inputs.end(), [&](const std::string& name) {
        return &layerOf(analysis, name) == &analysis.layers[found->second];
      });
      int64_t rows = layer.layer->embedding->input_dim;
      if (readsInput && rows <= largestId)
        fail(
            "{}: layer '{}' (Embedding): input_dim is {}, but the tokenizer gives word ids up "
            "to {} ({}) and pads with preprocessing.padding_value {}: input_dim must be at "
            "least {}",
            source, layer.layer->name, rows, largestTokenId(preprocessing),
            tokenIdLimitReason(preprocessing), preprocessing.padding_value, largestId + 1);
    }
  }
}

void checkModelSettings(const schema::ModelT& model, const ModelAnalysis& analysis) {
  if (model.training) checkTraining(*model.training, analysis.source);
  checkLoss(model, analysis);
  checkTextPreprocessing(model, analysis);
}

}  // namespace dlc
