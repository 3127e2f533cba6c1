// The optimizer step as more of the graph: for every "grad/<weight>" output that autodiff made,
// an in-place update of the weight and its slots, then the step counter moves on.
//
// Adam is the paper's bias-corrected form, which Keras implements:
//   m = β1 m + (1 - β1) g,  v = β2 v + (1 - β2) g²,  w -= lr · m̂ / (√v̂ + ε)
// SGD is Keras's: v = momentum · v - lr · g, then w += v (Nesterov: w += momentum · v - lr · g).
// The update is dense: every weight moves every step, as in Keras, embeddings included.
#include "ir/builder.h"
#include "passes/pass.h"
#include "support/error.h"

namespace dlc::passes {

bool addOptimizerUpdates(ir::Graph& graph, const PassOptions& options) {
  const schema::OptimizerT& optimizer = options.optimizer;
  ir::Builder builder(graph, "optimizer");

  // Collect first: the loop below edits the outputs.
  std::vector<std::pair<ir::ValueId, ir::ValueId>> weightsAndGradients;
  for (const ir::GraphOutput& output : graph.outputs()) {
    if (output.name.rfind("grad/", 0) != 0) continue;
    ir::ValueId weight = graph.findNamed(output.name.substr(5));
    if (weight == ir::kNoValue) fail("optimizer: no weight for the output '{}'", output.name);
    weightsAndGradients.emplace_back(weight, output.value);
  }
  if (weightsAndGradients.empty()) return false;

  ir::ValueId iterations = graph.addState("optimizer/iterations", {DType::Float32, {}});
  ir::ValueId step = builder.add(iterations, builder.fill({}, 1.0));

  for (auto [weight, gradient] : weightsAndGradients) {
    const ir::Value& value = graph.value(weight);
    std::string name = value.name;
    ir::Type type = value.type;
    builder.setOrigin(name);
    switch (optimizer.kind) {
      case schema::OptimizerKind::Adam: {
        ir::ValueId m = graph.addState("adam/m/" + name, type);
        ir::ValueId v = graph.addState("adam/v/" + name, type);
        builder.op(ir::OpKind::AdamUpdate, {weight, gradient, m, v, step},
                   {{"learning_rate", optimizer.learning_rate},
                    {"beta_1", optimizer.beta_1},
                    {"beta_2", optimizer.beta_2},
                    {"epsilon", optimizer.epsilon}});
        break;
      }
      case schema::OptimizerKind::SGD: {
        ir::ValueId velocity = graph.addState("sgd/velocity/" + name, type);
        builder.op(ir::OpKind::SgdUpdate, {weight, gradient, velocity},
                   {{"learning_rate", optimizer.learning_rate},
                    {"momentum", optimizer.momentum},
                    {"nesterov", int64_t{optimizer.nesterov}}});
        break;
      }
      default: fail("optimizer: unknown optimizer kind {}", static_cast<int>(optimizer.kind));
    }
  }
  builder.setOrigin("optimizer");
  builder.op(ir::OpKind::Assign, {iterations, step});

  if (!options.keepGradientOutputs) {
    auto& outputs = graph.mutableOutputs();
    std::erase_if(outputs,
                  [](const ir::GraphOutput& output) { return output.name.rfind("grad/", 0) == 0; });
  }
  return true;
}

}  // namespace dlc::passes
