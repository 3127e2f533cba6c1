// Raw question pairs to model inputs, with the tokenizer and padding a model file carries.
#pragma once

#include <string>
#include <vector>

#include "runtime/quora_data.h"
#include "runtime/tokenizer.h"
#include "schema/dlc_model_generated.h"
#include "support/tensor.h"

namespace dlc {

/// Question pairs as padded id rows, ready to be cut into batches.
struct EncodedPairs {
  int64_t count = 0;
  int64_t sequenceLength = 0;
  std::vector<int32_t> first;   // [count, sequenceLength]
  std::vector<int32_t> second;  // [count, sequenceLength]
  std::vector<float> labels;    // [count]
};

/// The model's text preprocessing section; throws dlc::Error naming `source` (the model's file)
/// if it has none or its settings cannot work.
const schema::TextPreprocessingT& preprocessingOf(const schema::ModelT& model,
                                                  const std::string& source);

class PairEncoder {
 public:
  /// Uses the fitted vocabulary of a model's preprocessing section; throws dlc::Error naming
  /// `source` if the model has none or it does not fit the model's two inputs.
  PairEncoder(const schema::ModelT& model, const std::string& source);

  /// Fits a tokenizer on `texts` with the model's settings and stores its vocabulary in the
  /// model, so that the model file becomes self-contained.
  static void fitVocabulary(schema::ModelT& model, const std::vector<std::string>& texts,
                            const std::string& source);

  std::vector<int32_t> encode(std::string_view text) const;
  EncodedPairs encode(const std::vector<QuestionPair>& pairs) const;

  /// Names of the model inputs that the first and the second question feed.
  const std::string& firstInput() const { return inputs_[0]; }
  const std::string& secondInput() const { return inputs_[1]; }
  int64_t sequenceLength() const { return padding_.maxLength; }

 private:
  Tokenizer tokenizer_;
  PadConfig padding_;
  std::vector<std::string> inputs_;
};

/// The rows `indices` of `pairs` as model inputs (and "labels" shaped [batch, 1]); when there are
/// fewer indices than `batchSize`, the last rows repeat the first index.
TensorMap makeBatch(const EncodedPairs& pairs, const PairEncoder& encoder,
                    std::span<const int64_t> indices, int64_t batchSize);

}  // namespace dlc
