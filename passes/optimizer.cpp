// The optimizer step as more of the graph: for every "grad/<weight>" output that autodiff made,
// an in-place update of the weight and its slots, then the step counter moves on.
//
// Adam is the paper's bias-corrected form, which Keras implements:
//   m = β1 m + (1 - β1) g,  v = β2 v + (1 - β2) g²,  w -= lr · m̂ / (√v̂ + ε)
// SGD is Keras's: v = momentum · v - lr · g, then w += v (Nesterov: w += momentum · v - lr · g).
// The update is dense: every weight moves every step, as in Keras, embeddings included. An
// embedding's gradient (a scatter_add or fused_matmul_scatter_add, or a sum or accumulation of
// them when the table is used several times) is not made dense for Adam, though: sparse_gradient
// collects the touched rows and adam_update_rows moves the whole table in one pass over weight, m
// and v, with a zero gradient for the other rows, which is the same arithmetic without writing and
// reading 25 MB of zeros. With Optimizer.lazy_embedding_updates only the touched rows move (lazy
// Adam, not Keras).
#include "ir/builder.h"
#include "passes/pass.h"
#include "passes/patterns.h"
#include "support/error.h"

namespace dlc::passes {

namespace {

/// The (ids, updates) operands of the scatters that `gradient` sums, in order, if it is one or
/// a sum of them that nothing else reads; empty otherwise. A fused_matmul_scatter_add (fusion
/// of the lookup's product) scatters dy · bᵀ: that product is made here, [n, D] for n ids,
/// which is small next to the [rows, D] table it would otherwise fill.
std::vector<ir::ValueId> scatteredParts(const GraphIndex& index, ir::Builder& builder,
                                        const ir::Graph& graph, ir::ValueId gradient) {
  if (const ir::Op* scatter = index.producer(gradient, ir::OpKind::ScatterAdd))
    return scatter->operands;
  std::vector<ir::ValueId> parts, terms;
  if (const ir::Op* fused = index.producer(gradient, ir::OpKind::FusedMatMulScatterAdd)) {
    // A copy: the builder's ops below may move the graph's ops, `fused` among them.
    std::vector<ir::ValueId> operands = fused->operands;
    ir::ValueId ids = operands[0];
    Shape shape = graph.type(ids).shape;
    shape.push_back(graph.type(operands[2]).shape[0]);
    parts = {ids,
             builder.reshape(builder.matmul(operands[1], operands[2], false, true), shape)};
    if (operands.size() == 4) terms.push_back(operands[3]);
  } else if (const ir::Op* sum = index.producer(gradient, ir::OpKind::Add)) {
    terms = sum->operands;
  } else {
    return {};
  }
  for (ir::ValueId term : terms) {
    std::vector<ir::ValueId> termParts = scatteredParts(index, builder, graph, term);
    if (termParts.empty() || index.uses(term) != 1) return {};
    parts.insert(parts.end(), termParts.begin(), termParts.end());
  }
  return parts;
}

}  // namespace

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

  GraphIndex index(graph);
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
        ir::Attributes attributes = {{"learning_rate", optimizer.learning_rate},
                                     {"beta_1", optimizer.beta_1},
                                     {"beta_2", optimizer.beta_2},
                                     {"epsilon", optimizer.epsilon}};
        std::vector<ir::ValueId> parts = options.keepGradientOutputs
                                             ? std::vector<ir::ValueId>{}
                                             : scatteredParts(index, builder, graph, gradient);
        if (parts.empty()) {
          builder.op(ir::OpKind::AdamUpdate, {weight, gradient, m, v, step}, attributes);
          break;
        }
        ir::ValueId sparse =
            builder.op(ir::OpKind::SparseGradient, parts, {{"rows", type.shape[0]}});
        attributes.set("lazy", int64_t{optimizer.lazy_embedding_updates});
        builder.op(ir::OpKind::AdamUpdateRows, {weight, sparse, m, v, step}, attributes);
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
