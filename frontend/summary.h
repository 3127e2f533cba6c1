// `dlc summary`: the Keras functional-model table of a model, as text or JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "frontend/layers.h"

namespace dlc {

/// The table Keras prints for a functional model, with thousands separators, plus the memory
/// the weights take.
std::string formatSummary(const schema::ModelT& model, const ModelAnalysis& analysis);

/// The same facts for scripts: layers (name, type, output_shape with null for the batch,
/// params, connected_to, trainable), total_params, trainable_params, non_trainable_params,
/// weight_bytes.
nlohmann::json summaryJson(const schema::ModelT& model, const ModelAnalysis& analysis);

/// 6531842 -> "6,531,842".
std::string withThousands(int64_t number);

}  // namespace dlc
