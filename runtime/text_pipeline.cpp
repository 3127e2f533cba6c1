#include "runtime/text_pipeline.h"

#include <algorithm>

#include "frontend/lowering.h"
#include "support/error.h"

namespace dlc {

namespace {

TokenizerConfig tokenizerConfig(const schema::TextPreprocessingT& preprocessing) {
  TokenizerConfig config;
  config.numWords = preprocessing.num_words;
  config.filters = preprocessing.filters;
  config.lower = preprocessing.lower;
  config.split = preprocessing.split.empty() ? " " : preprocessing.split;
  config.oovToken = preprocessing.oov_token;
  return config;
}

}  // namespace

const schema::TextPreprocessingT& preprocessingOf(const schema::ModelT& model,
                                                  const std::string& source) {
  if (!model.preprocessing) fail("{}: the model has no text preprocessing section", source);
  const schema::TextPreprocessingT& preprocessing = *model.preprocessing;
  if (preprocessing.sequence_length <= 0)
    fail("{}: preprocessing.sequence_length must be positive", source);
  if (preprocessing.text_inputs.size() != 2)
    fail("{}: preprocessing.text_inputs must name the two inputs a question pair feeds", source);
  return preprocessing;
}

PairEncoder::PairEncoder(const schema::ModelT& model, const std::string& source)
    : tokenizer_(Tokenizer::fromVocabulary(tokenizerConfig(preprocessingOf(model, source)),
                                           model.preprocessing->vocabulary)) {
  const schema::TextPreprocessingT& preprocessing = *model.preprocessing;
  if (preprocessing.vocabulary.empty())
    fail("{}: the model has no fitted vocabulary (train it first)", source);
  padding_.maxLength = preprocessing.sequence_length;
  padding_.padding = preprocessing.padding == schema::Side::Post ? PadSide::Post : PadSide::Pre;
  padding_.truncating =
      preprocessing.truncating == schema::Side::Post ? PadSide::Post : PadSide::Pre;
  padding_.value = preprocessing.padding_value;
  inputs_ = preprocessing.text_inputs;
  for (const std::string& input : inputs_) {
    if (std::find(model.inputs.begin(), model.inputs.end(), input) == model.inputs.end())
      fail("{}: preprocessing.text_inputs names '{}', which is not a model input", source, input);
    // Rows of another length would not fit the input (and a huge length would not fit memory).
    auto layer = std::find_if(model.layers.begin(), model.layers.end(),
                              [&](const auto& candidate) { return candidate->name == input; });
    const schema::InputOptionsT* options =
        layer == model.layers.end() ? nullptr : (*layer)->input.get();
    if (!options || options->dtype != schema::DType::Int32 ||
        options->shape != std::vector<int64_t>{preprocessing.sequence_length})
      fail("{}: preprocessing.sequence_length is {}, but the input '{}' does not take {} token "
           "ids (i32)",
           source, preprocessing.sequence_length, input, preprocessing.sequence_length);
  }
}

void PairEncoder::fitVocabulary(schema::ModelT& model, const std::vector<std::string>& texts,
                                const std::string& source) {
  Tokenizer tokenizer(tokenizerConfig(preprocessingOf(model, source)));
  tokenizer.fitOnTexts(texts);
  if (tokenizer.vocabulary().empty())
    fail("{}: the training questions hold no words once the tokenizer's filters have run",
         source);
  model.preprocessing->vocabulary = tokenizer.vocabulary();
}

std::vector<int32_t> PairEncoder::encode(std::string_view text) const {
  return padSequence(tokenizer_.textToSequence(text), padding_);
}

EncodedPairs PairEncoder::encode(const std::vector<QuestionPair>& pairs) const {
  EncodedPairs encoded;
  encoded.count = static_cast<int64_t>(pairs.size());
  encoded.sequenceLength = sequenceLength();
  for (const QuestionPair& pair : pairs) {
    std::vector<int32_t> first = encode(pair.question1);
    std::vector<int32_t> second = encode(pair.question2);
    encoded.first.insert(encoded.first.end(), first.begin(), first.end());
    encoded.second.insert(encoded.second.end(), second.begin(), second.end());
    encoded.labels.push_back(pair.label);
  }
  return encoded;
}

TensorMap makeBatch(const EncodedPairs& pairs, const PairEncoder& encoder,
                    std::span<const int64_t> indices, int64_t batchSize) {
  int64_t length = pairs.sequenceLength;
  Tensor first(DType::Int32, {batchSize, length});
  Tensor second(DType::Int32, {batchSize, length});
  Tensor labels(DType::Float32, {batchSize, 1});
  for (int64_t row = 0; row < batchSize; ++row) {
    int64_t index = indices[row < static_cast<int64_t>(indices.size()) ? row : 0];
    std::copy_n(pairs.first.begin() + index * length, length,
                first.data<int32_t>().begin() + row * length);
    std::copy_n(pairs.second.begin() + index * length, length,
                second.data<int32_t>().begin() + row * length);
    labels.data<float>()[row] = pairs.labels[index];
  }
  TensorMap batch;
  batch[encoder.firstInput()] = std::move(first);
  batch[encoder.secondInput()] = std::move(second);
  batch[kLabelsInput] = std::move(labels);
  return batch;
}

}  // namespace dlc
