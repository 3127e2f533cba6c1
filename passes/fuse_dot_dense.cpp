// Fuses a per-sample dot product and the dense layer that reads it into one fused_dot_dense op:
//
//   act(reduce_sum(a · b, axis 1, keepdims) · kernel + bias)  ->  fused_dot_dense(a, b, kernel,
//   bias)
//
// The pieces must have no other users. Its gradient rule writes the backward in plain ops; when
// training, fuse-dot-dense-loss then takes them, the layer and its loss into one op.
#include <optional>

#include "ir/builder.h"
#include "passes/patterns.h"

namespace dlc::passes {

namespace {

constexpr const char* kPass = "fuse-dot-dense";

struct DotDense {
  ir::ValueId left, right, kernel, bias, result;
  ir::Activation activation;
  std::string origin;
};

}  // namespace

bool fuseDotDense(ir::Graph& graph, const PassOptions& options) {
  GraphIndex index(graph);
  std::vector<std::vector<int32_t>> users = ir::usersOf(graph);
  std::vector<DotDense> matches;
  for (const ir::Op& op : graph.ops()) {
    // The bias add after the product with a [1, units] kernel.
    if (op.kind != ir::OpKind::Add) continue;
    const ir::Op* product = index.producer(op.operands[0], ir::OpKind::MatMul);
    if (!product || product->attributes.has("transpose_a") ||
        product->attributes.has("transpose_b"))
      continue;
    const ir::Op* dot = index.producer(product->operands[0], ir::OpKind::ReduceSum);
    const ir::Op* multiply = dot ? index.producer(dot->operands[0], ir::OpKind::Mul) : nullptr;
    if (!multiply || dot->attributes.getInts("axes") != Shape{1} ||
        dot->attributes.getInt("keepdims") != 1)
      continue;
    const Shape& leftShape = graph.type(multiply->operands[0]).shape;
    if (leftShape.size() != 2 || graph.type(multiply->operands[1]).shape != leftShape) {
      explainRefusal(options, kPass, "the dot at '{}' broadcasts its operands", dot->origin);
      continue;
    }
    const Shape& biasShape = graph.type(op.operands[1]).shape;
    if (biasShape.size() != 1 || graph.type(product->operands[1]).shape[0] != 1) continue;

    std::string reason;
    for (ir::ValueId piece : {multiply->result, dot->result, product->result})
      if (reason.empty()) reason = index.whyShared(piece);
    if (!reason.empty()) {
      explainRefusal(options, kPass, "an intermediate value at '{}' {}", op.origin, reason);
      continue;
    }
    {
      DotDense match{multiply->operands[0],
                     multiply->operands[1],
                     product->operands[1],
                     op.operands[1],
                     op.result,
                     ir::Activation::Linear,
                     op.origin};
      // An activation that only reads the sum joins the fusion.
      if (index.uses(op.result) == 1 && users[op.result].size() == 1) {
        const ir::Op& user = graph.ops()[users[op.result][0]];
        if (auto activation = activationOf(user.kind)) {
          match.activation = *activation;
          match.result = user.result;
        }
      }
      matches.push_back(match);
    }
  }

  for (const DotDense& match : matches) {
    ir::Builder builder(graph, match.origin);
    ir::ValueId fused =
        builder.op(ir::OpKind::FusedDotDense, {match.left, match.right, match.kernel, match.bias},
                   {{"activation", static_cast<int64_t>(match.activation)}});
    ir::replaceAllUses(graph, match.result, fused);
  }
  return finishRewrite(graph, options, !matches.empty());
}

}  // namespace dlc::passes
