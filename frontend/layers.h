// The layer table: for every layer kind of the model format, how its options and inputs are
// checked, which weights it has, what it outputs, and how it lowers to IR.
//
// A layer that takes one tensor (Embedding, LSTM, Dense, ...) may be called on several inputs:
// it is then shared, and each entry of `inputs` is one call with the same weights. Other layers
// refer to the output of call k as "name:k" ("name" alone is call 0). Layers that merge several
// tensors (Dot, Add, Concatenate, ...) are called once on all their inputs.
#pragma once

#include <limits>
#include <map>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "schema/dlc_model_generated.h"
#include "support/tensor.h"

namespace dlc {

enum class Initializer {
  Zeros,
  GlorotUniform,  // Keras's default kernel initializer
  Orthogonal,     // Keras's default recurrent kernel initializer
  RandomUniform,  // U(-0.05, 0.05): Keras's default embeddings initializer
  LstmBias,       // zeros, with the forget gate's quarter at 1 (unit_forget_bias)
};

struct WeightSpec {
  std::string name;  // "<layer>/<weight>", as Keras names it
  Shape shape;
  Initializer initializer = Initializer::Zeros;
  bool trainable = true;
};

/// The most elements a weight, or one sample of a layer's output, may have: counts stay far
/// from overflowing, and the generated code passes matrix sizes as 32-bit integers.
inline constexpr int64_t kMaxTensorElements = std::numeric_limits<int32_t>::max();

/// A tensor flowing between layers. The batch dimension comes first and is -1 (Keras's None).
struct LayerTensor {
  DType dtype = DType::Float32;
  Shape shape;
};

/// What the frontend knows of one layer once the model is validated.
struct LayerAnalysis {
  const schema::LayerT* layer = nullptr;
  std::string typeName;              // as Keras prints it: "Embedding", "InputLayer"
  std::vector<LayerTensor> outputs;  // one per call
  std::vector<WeightSpec> weights;
  int64_t parameterCount = 0;
};

struct ModelAnalysis {
  std::string source;  // the file, for messages
  std::vector<LayerAnalysis> layers;
  std::map<std::string, int> layerIndex;
  int64_t totalParameters = 0;
  int64_t trainableParameters = 0;

  std::vector<WeightSpec> allWeights() const;
  const LayerAnalysis& layer(const std::string& name) const;
};

/// A reference "name" or "name:k" to call k of a layer.
struct TensorReference {
  std::string layer;
  int call = 0;
};
TensorReference parseTensorReference(const std::string& text);

/// Checks the whole model and infers every layer's output: unique names, inputs that exist and
/// come earlier, options that make sense, shapes that fit, outputs that exist. Throws dlc::Error
/// naming `source`, the layer and what was expected.
ModelAnalysis analyzeModel(const schema::ModelT& model, const std::string& source);

/// "(None, 20, 128)".
std::string formatLayerShape(const Shape& shape);

// --- What each layer kind implements (frontend/layers/*.cpp) ---------------------------------

/// Checking one layer: the tensors it is called on, and what it must fill in.
struct LayerCheck {
  const schema::LayerT& layer;
  const std::string& source;
  std::vector<LayerTensor> inputs;  // one per call for single-input kinds, else all operands
  std::vector<WeightSpec> weights;  // to fill
  LayerTensor output;               // to fill (the same for every call)

  /// Throws dlc::Error: "<source>: layer '<name>' (<Type>): <message>".
  [[noreturn]] void fail(const std::string& message) const;
};

/// Lowering one call of a layer to IR.
struct LayerLowering {
  ir::Builder& builder;
  const schema::LayerT& layer;
  std::vector<ir::ValueId> inputs;
  const std::map<std::string, ir::ValueId>& weights;  // by WeightSpec name
  bool training = false;

  ir::ValueId weight(const std::string& shortName) const;  // "kernel" -> "<layer>/kernel"
};

struct LayerRule {
  schema::LayerKind kind;
  const char* typeName;
  bool mergesInputs;  // true: one call on all inputs; false: one call per input
  int minInputs;
  int maxInputs;  // -1: no limit
  void (*check)(LayerCheck& check);
  ir::ValueId (*lower)(LayerLowering& lowering);
};

const LayerRule& layerRule(schema::LayerKind kind);

/// An activation applied elementwise; Linear returns `input`.
ir::ValueId lowerActivation(ir::Builder& builder, schema::ActivationKind activation,
                            ir::ValueId input);

}  // namespace dlc
