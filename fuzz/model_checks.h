// What dlc does with a model once it is read (summary, weights, lowering, the tokenizer): the
// model fuzz targets run all of it, so that a file that passes validation cannot crash later.
#pragma once

#include <cstdint>

#include "frontend/layers.h"
#include "frontend/lowering.h"
#include "frontend/summary.h"
#include "runtime/text_pipeline.h"
#include "runtime/weights.h"

namespace dlc::fuzz {

inline void useModel(const schema::ModelT& model, const std::string& source) {
  ModelAnalysis analysis = analyzeModel(model, source);
  formatSummary(model, analysis);
  summaryJson(model, analysis).dump();
  modelWeights(model, analysis, 1);

  lowerModel(model, analysis, {2, false});
  if (model.training) lowerModel(model, analysis, {2, true});

  if (model.preprocessing && !model.preprocessing->vocabulary.empty()) {
    PairEncoder encoder(model, source);
    encoder.encode(std::vector<QuestionPair>{{"how do i learn physics?", "what is physics", 1}});
  }
}

}  // namespace dlc::fuzz
