// Embedding: a lookup of rows of a [input_dim, output_dim] table by integer ids.
#include "frontend/layers/layer_kinds.h"

namespace dlc::layers {

void checkEmbedding(LayerCheck& check) {
  const auto& options = requireOptions(check, check.layer.embedding, "embedding");
  if (options.input_dim <= 0 || options.output_dim <= 0)
    check.fail("input_dim and output_dim must be positive");
  const LayerTensor& ids = check.inputs[0];
  if (ids.dtype != DType::Int32) check.fail("expects integer token ids (i32 input)");

  check.weights.push_back({check.layer.name + "/embeddings",
                           {options.input_dim, options.output_dim},
                           Initializer::RandomUniform});
  check.output.shape = ids.shape;
  check.output.shape.push_back(options.output_dim);
}

ir::ValueId lowerEmbedding(LayerLowering& lowering) {
  return lowering.builder.op(ir::OpKind::Gather,
                             {lowering.weight("embeddings"), lowering.inputs[0]});
}

}  // namespace dlc::layers
