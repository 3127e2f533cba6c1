// The op table: every op kind with its name, arity, side effects and shape rule.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "ir/attributes.h"
#include "support/tensor.h"

namespace dlc::ir {

enum class OpKind : uint16_t {
#define DLC_OP(kind, name, arity, sideEffects) kind,
#include "ir/ops.def"
};

inline constexpr int kOpKindCount = 0
#define DLC_OP(kind, name, arity, sideEffects) +1
#include "ir/ops.def"
    ;

/// Activations that fused ops apply, by number in their attributes (the model format's order).
enum class Activation : int64_t { Linear = 0, Sigmoid = 1, HardSigmoid = 2, Tanh = 3, Relu = 4 };

/// Where fused_dot_dense_loss_grad keeps each of its results in its one flat result, for a batch
/// of `batch` pairs of `width`-long vectors and a dense layer of `units` units.
struct DotDenseLossLayout {
  int64_t batch, width, units;

  int64_t loss() const { return 0; }
  int64_t probabilities() const { return 1; }
  int64_t leftGradient() const { return probabilities() + batch * units; }
  int64_t rightGradient() const { return leftGradient() + batch * width; }
  int64_t kernelGradient() const { return rightGradient() + batch * width; }
  int64_t biasGradient() const { return kernelGradient() + units; }
  int64_t size() const { return biasGradient() + units; }
};

/// The static type of a value: element type and shape.
struct Type {
  DType dtype = DType::Float32;
  Shape shape;

  int64_t numElements() const { return dlc::numElements(shape); }
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  bool operator==(const Type&) const = default;
};

/// "f32[64, 20]".
std::string formatType(const Type& type);

/// Computes the result type of an op from its operands' types, or throws dlc::Error saying what
/// did not fit. Side-effecting ops check their operands and return an empty type.
using ShapeRule = Type (*)(const std::vector<Type>& operands, const Attributes& attributes);

struct OpInfo {
  std::string_view name;
  int arity;  // -1: one or more
  bool hasSideEffects;
  ShapeRule inferType;
};

const OpInfo& opInfo(OpKind kind);
inline std::string_view opName(OpKind kind) { return opInfo(kind).name; }

/// Elementwise ops that map one or two same-shaped (or broadcast) inputs to an output.
bool isElementwise(OpKind kind);

/// NumPy broadcasting of two shapes; throws dlc::Error if they do not broadcast.
Shape broadcastShapes(const Shape& left, const Shape& right);

}  // namespace dlc::ir
