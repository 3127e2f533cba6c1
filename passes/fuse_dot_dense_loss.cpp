// Fuses the training step of a fused dot + dense layer and the binary cross-entropy reading it
// into one fused_dot_dense_loss_grad op, after autodiff. The pattern is what autodiff writes for
// p = fused_dot_dense(a, b, kernel, bias) and loss = binary_cross_entropy(p, y):
//
//   dp = binary_cross_entropy_grad(p, y, dloss)   dz = act_grad(p, dp) (dp itself when linear)
//   dkernel = matmul(dot, dz, transpose_a)         dbias = reduce_sum(dz, axis 0)
//   ddot = matmul(dz, kernel, transpose_b)         da = ddot · b    db = ddot · a
//   dot = reduce_sum(a · b, axis 1, keepdims)      (the dot, recomputed by the gradient rule)
//
// The fused op computes the loss, p and the four gradients in one loop over the batch, into one
// flat result (the IR's ops have one result each); slices of it, reshaped, replace each value.
// p and the loss stay available to whatever read them (the trainer reports p); the backward's
// intermediate values must have no other users. Only activations whose gradient needs no
// pre-activation (linear, sigmoid, tanh) match: the others' gradient rules also recompute it.
#include <optional>

#include "ir/builder.h"
#include "passes/patterns.h"

namespace dlc::passes {

namespace {

constexpr const char* kPass = "fuse-dot-dense-loss";

/// The derivative op autodiff writes for an activation that reads its output, if it does.
std::optional<ir::OpKind> outputGradientKind(ir::Activation activation) {
  switch (activation) {
    case ir::Activation::Sigmoid: return ir::OpKind::SigmoidGrad;
    case ir::Activation::Tanh: return ir::OpKind::TanhGrad;
    default: return std::nullopt;
  }
}

/// One fusion: the fused op's operands, and the values it replaces (kNoValue where autodiff wrote
/// no such gradient).
struct DotDenseLoss {
  std::vector<ir::ValueId> operands;  // a, b, kernel, bias, labels, dloss
  ir::Attributes attributes;
  std::string origin;
  ir::ValueId probabilities, loss;
  ir::ValueId leftGradient = ir::kNoValue, rightGradient = ir::kNoValue;
  ir::ValueId kernelGradient = ir::kNoValue, biasGradient = ir::kNoValue;
};

class Matcher {
 public:
  Matcher(const ir::Graph& graph, const PassOptions& options)
      : graph_(graph), options_(options), index_(graph), users_(ir::usersOf(graph)) {}

  /// The fusion rooted at `forward` (a fused_dot_dense), or nullopt, said why at -v.
  std::optional<DotDenseLoss> match(const ir::Op& forward) {
    auto activation = static_cast<ir::Activation>(forward.attributes.getInt("activation"));
    std::optional<ir::OpKind> derivative = outputGradientKind(activation);
    if (activation != ir::Activation::Linear && !derivative)
      return refuse(forward, "its activation's gradient reads the pre-activation");

    const ir::Op* loss = userOf(forward.result, ir::OpKind::BinaryCrossEntropy, 0);
    const ir::Op* lossGradient = userOf(forward.result, ir::OpKind::BinaryCrossEntropyGrad, 0);
    if (!loss || !lossGradient || lossGradient->operands[1] != loss->operands[1])
      return refuse(forward, "no binary_cross_entropy and its gradient read it");
    DotDenseLoss match{forward.operands, forward.attributes, forward.origin, forward.result,
                       loss->result};
    match.operands.push_back(loss->operands[1]);
    match.operands.push_back(lossGradient->operands[2]);

    ir::ValueId dz = lossGradient->result;
    if (derivative) {
      const ir::Op* activationGradient = userOf(dz, *derivative, 1);
      if (!activationGradient || activationGradient->operands[0] != forward.result)
        return refuse(forward, "the loss gradient does not flow into the activation's");
      std::string why = index_.whyShared(dz);
      if (!why.empty()) return refuse(forward, "the loss gradient " + why);
      dz = activationGradient->result;
    }
    if (index_.isOutput(dz)) return refuse(forward, "the pre-activation's gradient is an output");

    // Each reader of dz must be one of the gradient rule's three ops, each there at most once.
    ir::ValueId ddot = ir::kNoValue, dot = ir::kNoValue;
    for (int32_t user : users_[dz]) {
      const ir::Op& op = graph_.ops()[user];
      if (isProduct(op, false, true) && op.operands == std::vector{dz, forward.operands[2]} &&
          ddot == ir::kNoValue) {
        ddot = op.result;
      } else if (isProduct(op, true, false) && op.operands[1] == dz &&
                 match.kernelGradient == ir::kNoValue) {
        dot = op.operands[0];
        match.kernelGradient = op.result;
      } else if (op.kind == ir::OpKind::ReduceSum && op.operands[0] == dz &&
                 match.biasGradient == ir::kNoValue && op.attributes.getInts("axes") == Shape{0} &&
                 op.attributes.getInt("keepdims") == 0) {
        match.biasGradient = op.result;
      } else {
        return refuse(forward, "the pre-activation's gradient has other users");
      }
    }
    if (dot != ir::kNoValue && !isRecomputedDot(forward, dot))
      return refuse(forward, "the kernel's gradient does not read the recomputed dot");
    if (ddot == ir::kNoValue) return match;

    // The dot's gradient goes to a and b only.
    if (index_.isOutput(ddot)) return refuse(forward, "the dot's gradient is an output");
    for (int32_t user : users_[ddot]) {
      const ir::Op& op = graph_.ops()[user];
      bool times = op.kind == ir::OpKind::Mul && op.operands[0] == ddot;
      if (times && op.operands[1] == forward.operands[1] && match.leftGradient == ir::kNoValue)
        match.leftGradient = op.result;
      else if (times && op.operands[1] == forward.operands[0] &&
               match.rightGradient == ir::kNoValue)
        match.rightGradient = op.result;
      else
        return refuse(forward, "the dot's gradient has other users");
    }
    return match;
  }

 private:
  std::optional<DotDenseLoss> refuse(const ir::Op& forward, const std::string& reason) {
    explainRefusal(options_, kPass, "the loss of '{}': {}", forward.origin, reason);
    return std::nullopt;
  }

  /// The first op of `kind` that reads `value` as its operand `position`.
  const ir::Op* userOf(ir::ValueId value, ir::OpKind kind, size_t position) const {
    for (int32_t user : users_[value]) {
      const ir::Op& op = graph_.ops()[user];
      if (op.kind == kind && op.operands.size() > position && op.operands[position] == value)
        return &op;
    }
    return nullptr;
  }

  static bool isProduct(const ir::Op& op, bool transposeA, bool transposeB) {
    return op.kind == ir::OpKind::MatMul &&
           (op.attributes.getInt("transpose_a", 0) != 0) == transposeA &&
           (op.attributes.getInt("transpose_b", 0) != 0) == transposeB;
  }

  /// Whether `dot` is reduce_sum(a · b, axis 1, keepdims) of the forward's a and b, read only by
  /// the kernel's gradient.
  bool isRecomputedDot(const ir::Op& forward, ir::ValueId dot) const {
    const ir::Op* sum = index_.producer(dot, ir::OpKind::ReduceSum);
    const ir::Op* product = sum ? index_.producer(sum->operands[0], ir::OpKind::Mul) : nullptr;
    return product && sum->attributes.getInts("axes") == Shape{1} &&
           sum->attributes.getInt("keepdims") == 1 &&
           product->operands == std::vector{forward.operands[0], forward.operands[1]} &&
           index_.whyShared(dot).empty() && index_.whyShared(product->result).empty();
  }

  const ir::Graph& graph_;
  const PassOptions& options_;
  GraphIndex index_;
  std::vector<std::vector<int32_t>> users_;
};

}  // namespace

bool fuseDotDenseLoss(ir::Graph& graph, const PassOptions& options) {
  std::vector<DotDenseLoss> matches;
  Matcher matcher(graph, options);
  for (const ir::Op& op : graph.ops())
    if (op.kind == ir::OpKind::FusedDotDense)
      if (auto match = matcher.match(op)) matches.push_back(*match);

  for (const DotDenseLoss& match : matches) {
    ir::Builder builder(graph, match.origin);
    ir::ValueId packed =
        builder.op(ir::OpKind::FusedDotDenseLossGrad, match.operands, match.attributes);
    const Shape& left = graph.type(match.operands[0]).shape;
    ir::DotDenseLossLayout layout{left[0], left[1], graph.type(match.operands[2]).shape[1]};
    // Each replaced value becomes a view of its part of the packed result.
    auto view = [&](ir::ValueId value, int64_t start) {
      if (value == ir::kNoValue) return;
      Shape shape = graph.type(value).shape;
      ir::ValueId part = builder.slice(packed, 0, start, start + numElements(shape));
      ir::replaceAllUses(graph, value, builder.reshape(part, shape));
    };
    view(match.loss, layout.loss());
    view(match.probabilities, layout.probabilities());
    view(match.leftGradient, layout.leftGradient());
    view(match.rightGradient, layout.rightGradient());
    view(match.kernelGradient, layout.kernelGradient());
    view(match.biasGradient, layout.biasGradient());
  }
  return finishRewrite(graph, options, !matches.empty());
}

}  // namespace dlc::passes
