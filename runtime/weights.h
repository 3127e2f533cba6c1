// A model's weights: initialized as Keras does, stored in the model file, checked against the
// model's layers.
#pragma once

#include <cstdint>

#include "frontend/layers.h"
#include "support/tensor.h"

namespace dlc {

/// Fresh weights with Keras's default initializers. Each weight draws from its own stream,
/// derived from `seed` and its name, so adding a layer does not change the others.
TensorMap initializeWeights(const ModelAnalysis& analysis, uint64_t seed);

/// The weights the model file carries, or fresh ones from `seed` if it carries none.
TensorMap modelWeights(const schema::ModelT& model, const ModelAnalysis& analysis, uint64_t seed);

/// Throws dlc::Error naming `source` unless `weights` has exactly the model's weights, with their
/// shapes, in f32, and every value finite.
void checkWeights(const TensorMap& weights, const ModelAnalysis& analysis,
                  const std::string& source);

/// Tensors to and from the model format's `Tensor` table.
std::vector<std::unique_ptr<schema::TensorT>> toSchemaTensors(const TensorMap& tensors);
TensorMap fromSchemaTensors(const std::vector<std::unique_ptr<schema::TensorT>>& tensors,
                            const std::string& source);

}  // namespace dlc
