// Checks of a model's settings across layers: the training section and the text preprocessing
// against the inputs and embeddings it feeds. analyzeModel runs them.
#pragma once

#include <cstdint>

#include "frontend/layers.h"

namespace dlc {

/// The training section (loss against the first output, optimizer hyperparameters, batch size,
/// epochs, validation split) and the text preprocessing. Throws dlc::Error naming
/// `analysis.source`, the field or layer, and what would fit.
void checkModelSettings(const schema::ModelT& model, const ModelAnalysis& analysis);

/// The preprocessing against the layers: the text inputs take sequence_length ids, and every
/// embedding reading them has a row for each id the tokenizer can give and for the padding
/// value. Run again once a vocabulary is fitted (it bounds the ids more tightly).
void checkTextPreprocessing(const schema::ModelT& model, const ModelAnalysis& analysis);

/// The largest word id the tokenizer can give: the vocabulary's size, below num_words (if
/// num_words is set and nothing is fitted yet, num_words - 1).
int64_t largestTokenId(const schema::TextPreprocessingT& preprocessing);

}  // namespace dlc
