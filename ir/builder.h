// Convenience for emitting ops: one short call per op, all tagged with the same origin.
#pragma once

#include <string>
#include <utility>

#include "ir/graph.h"

namespace dlc::ir {

class Builder {
 public:
  Builder(Graph& graph, std::string origin) : graph_(graph), origin_(std::move(origin)) {}

  Graph& graph() { return graph_; }
  const Shape& shape(ValueId value) const { return graph_.type(value).shape; }
  void setOrigin(std::string origin) { origin_ = std::move(origin); }

  ValueId op(OpKind kind, std::vector<ValueId> operands, Attributes attributes = {}) {
    return graph_.addOp(kind, std::move(operands), std::move(attributes), origin_);
  }

  ValueId fill(Shape shape, double value) {
    return op(OpKind::Fill, {}, {{"shape", std::move(shape)}, {"value", value}});
  }
  ValueId add(ValueId a, ValueId b) { return op(OpKind::Add, {a, b}); }
  ValueId sub(ValueId a, ValueId b) { return op(OpKind::Sub, {a, b}); }
  ValueId mul(ValueId a, ValueId b) { return op(OpKind::Mul, {a, b}); }
  ValueId div(ValueId a, ValueId b) { return op(OpKind::Div, {a, b}); }
  ValueId neg(ValueId a) { return op(OpKind::Neg, {a}); }
  ValueId scale(ValueId a, double factor) { return op(OpKind::Scale, {a}, {{"factor", factor}}); }
  ValueId unary(OpKind kind, ValueId a) { return op(kind, {a}); }

  ValueId matmul(ValueId a, ValueId b, bool transposeA = false, bool transposeB = false) {
    Attributes attributes;
    if (transposeA) attributes.set("transpose_a", int64_t{1});
    if (transposeB) attributes.set("transpose_b", int64_t{1});
    return op(OpKind::MatMul, {a, b}, std::move(attributes));
  }
  ValueId reshape(ValueId a, Shape shape) {
    if (graph_.type(a).shape == shape) return a;
    return op(OpKind::Reshape, {a}, {{"shape", std::move(shape)}});
  }
  ValueId transpose(ValueId a, Shape permutation) {
    return op(OpKind::Transpose, {a}, {{"permutation", std::move(permutation)}});
  }
  ValueId slice(ValueId a, int64_t axis, int64_t start, int64_t end) {
    return op(OpKind::Slice, {a}, {{"axis", axis}, {"start", start}, {"end", end}});
  }
  ValueId pad(ValueId a, int64_t axis, int64_t before, int64_t after) {
    return op(OpKind::Pad, {a}, {{"axis", axis}, {"before", before}, {"after", after}});
  }
  ValueId concat(std::vector<ValueId> values, int64_t axis) {
    return op(OpKind::Concat, std::move(values), {{"axis", axis}});
  }
  ValueId reduceSum(ValueId a, Shape axes, bool keepDims) {
    return op(OpKind::ReduceSum, {a}, {{"axes", std::move(axes)}, {"keepdims", int64_t{keepDims}}});
  }
  ValueId broadcastTo(ValueId a, Shape shape) {
    if (graph_.type(a).shape == shape) return a;
    return op(OpKind::BroadcastTo, {a}, {{"shape", std::move(shape)}});
  }

 private:
  Graph& graph_;
  std::string origin_;
};

}  // namespace dlc::ir
