// The check and lowering functions of each layer kind; the table in frontend/layers.cpp
// lists them.
#pragma once

#include "frontend/layers.h"

namespace dlc::layers {

#define DLC_LAYER_FUNCTIONS(Kind)      \
  void check##Kind(LayerCheck& check); \
  ir::ValueId lower##Kind(LayerLowering& lowering);

DLC_LAYER_FUNCTIONS(Input)
DLC_LAYER_FUNCTIONS(Embedding)
DLC_LAYER_FUNCTIONS(LSTM)
DLC_LAYER_FUNCTIONS(Dot)
DLC_LAYER_FUNCTIONS(Dense)
DLC_LAYER_FUNCTIONS(Activation)
DLC_LAYER_FUNCTIONS(Dropout)
DLC_LAYER_FUNCTIONS(Concatenate)
DLC_LAYER_FUNCTIONS(Add)
DLC_LAYER_FUNCTIONS(Subtract)
DLC_LAYER_FUNCTIONS(Multiply)
DLC_LAYER_FUNCTIONS(Flatten)

#undef DLC_LAYER_FUNCTIONS

/// Fails unless the layer has the options table it needs ("the layer needs 'lstm' options").
template <typename Options>
const Options& requireOptions(const LayerCheck& check, const std::unique_ptr<Options>& options,
                              const char* field) {
  if (!options) check.fail(std::string("needs its '") + field + "' options");
  return *options;
}

/// Fails unless every input is f32.
void requireFloatInputs(const LayerCheck& check);

}  // namespace dlc::layers
