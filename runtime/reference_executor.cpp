#include "runtime/reference_executor.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

#include "ir/elementwise_program.h"
#include "support/error.h"

namespace dlc {

namespace {

using ir::OpKind;

/// Adam's update of one element (bias-corrected, as Keras), with this step's corrections.
template <typename Scalar>
struct AdamArithmetic {
  Scalar rate, beta1, beta2, epsilon, correction1, correction2;

  AdamArithmetic(const ir::Attributes& attributes, Scalar step)
      : rate(Scalar(attributes.getFloat("learning_rate"))),
        beta1(Scalar(attributes.getFloat("beta_1"))),
        beta2(Scalar(attributes.getFloat("beta_2"))),
        epsilon(Scalar(attributes.getFloat("epsilon"))),
        correction1(Scalar(1) - std::pow(beta1, step)),
        correction2(Scalar(1) - std::pow(beta2, step)) {}

  void apply(Scalar& weight, Scalar& m, Scalar& v, Scalar g) const {
    m = beta1 * m + (Scalar(1) - beta1) * g;
    v = beta2 * v + (Scalar(1) - beta2) * g * g;
    weight -= rate * (m / correction1) / (std::sqrt(v / correction2) + epsilon);
  }
};

/// Row-major strides of a shape.
Shape stridesOf(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (size_t axis = shape.size(); axis-- > 1;) strides[axis - 1] = strides[axis] * shape[axis];
  return strides;
}

/// Strides of `shape` as seen from a broadcast result of rank `rank`: 0 where it repeats.
Shape broadcastStrides(const Shape& shape, const Shape& resultShape) {
  Shape own = stridesOf(shape);
  Shape strides(resultShape.size(), 0);
  size_t offset = resultShape.size() - shape.size();
  for (size_t axis = 0; axis < shape.size(); ++axis)
    strides[axis + offset] = shape[axis] == 1 ? 0 : own[axis];
  return strides;
}

/// Calls visit(outputIndex, offsetA, offsetB) for every element of `shape`, walking two
/// operands with the given strides.
template <typename Visit>
void forEachIndex(const Shape& shape, const Shape& stridesA, const Shape& stridesB, Visit visit) {
  int64_t total = numElements(shape);
  size_t rank = shape.size();
  std::vector<int64_t> index(rank, 0);
  int64_t offsetA = 0, offsetB = 0;
  for (int64_t flat = 0; flat < total; ++flat) {
    visit(flat, offsetA, offsetB);
    for (size_t axis = rank; axis-- > 0;) {
      if (++index[axis] < shape[axis]) {
        offsetA += stridesA[axis];
        offsetB += stridesB[axis];
        break;
      }
      offsetA -= stridesA[axis] * (shape[axis] - 1);
      offsetB -= stridesB[axis] * (shape[axis] - 1);
      index[axis] = 0;
    }
  }
}

/// Product of the sizes before `axis`, the size at it, and the product after it.
struct AxisSplit {
  int64_t outer, size, inner;
};
AxisSplit splitAt(const Shape& shape, int64_t axis) {
  AxisSplit split{1, shape[axis], 1};
  for (int64_t i = 0; i < axis; ++i) split.outer *= shape[i];
  for (size_t i = axis + 1; i < shape.size(); ++i) split.inner *= shape[i];
  return split;
}

template <typename Scalar>
Scalar activate(ir::Activation kind, Scalar x) {
  switch (kind) {
    case ir::Activation::Linear: return x;
    case ir::Activation::Sigmoid: return Scalar(1) / (Scalar(1) + std::exp(-x));
    case ir::Activation::HardSigmoid:
      return std::clamp(Scalar(0.2) * x + Scalar(0.5), Scalar(0), Scalar(1));
    case ir::Activation::Tanh: return std::tanh(x);
    case ir::Activation::Relu: return std::max(x, Scalar(0));
  }
  return x;
}

/// The activation's derivative at x, where y = activate(kind, x).
template <typename Scalar>
Scalar activationDerivative(ir::Activation kind, Scalar x, Scalar y) {
  switch (kind) {
    case ir::Activation::Linear: return Scalar(1);
    case ir::Activation::Sigmoid: return y * (Scalar(1) - y);
    case ir::Activation::HardSigmoid: {
      Scalar ramp = Scalar(0.2) * x + Scalar(0.5);
      return ramp > Scalar(0) && ramp < Scalar(1) ? Scalar(0.2) : Scalar(0);
    }
    case ir::Activation::Tanh: return Scalar(1) - y * y;
    case ir::Activation::Relu: return x > Scalar(0) ? Scalar(1) : Scalar(0);
  }
  return Scalar(1);
}

/// One prediction's share of the binary cross-entropy's sum, p clipped to [1e-7, 1 - 1e-7].
template <typename Scalar>
Scalar crossEntropyTerm(Scalar p, Scalar y) {
  constexpr Scalar kEpsilon = Scalar(1e-7);
  Scalar clipped = std::clamp(p, kEpsilon, Scalar(1) - kEpsilon);
  return y * std::log(clipped) + (Scalar(1) - y) * std::log(Scalar(1) - clipped);
}

/// d(-crossEntropyTerm)/dp; the clip passes no gradient where it is active.
template <typename Scalar>
Scalar crossEntropyDerivative(Scalar p, Scalar y) {
  constexpr Scalar kEpsilon = Scalar(1e-7);
  if (p < kEpsilon || p > Scalar(1) - kEpsilon) return Scalar(0);
  return -y / p + (Scalar(1) - y) / (Scalar(1) - p);
}

/// The value of an elementwise op of `kind` at one element (b is unused by unary ops).
template <typename Scalar>
Scalar elementwiseValue(ir::OpKind kind, Scalar factor, Scalar a, Scalar b) {
  switch (kind) {
    case OpKind::Add: return a + b;
    case OpKind::Sub: return a - b;
    case OpKind::Mul: return a * b;
    case OpKind::Div: return a / b;
    case OpKind::Neg: return -a;
    case OpKind::Scale: return a * factor;
    case OpKind::Sigmoid: return activate(ir::Activation::Sigmoid, a);
    case OpKind::HardSigmoid: return activate(ir::Activation::HardSigmoid, a);
    case OpKind::Tanh: return activate(ir::Activation::Tanh, a);
    case OpKind::Relu: return activate(ir::Activation::Relu, a);
    case OpKind::Exp: return std::exp(a);
    case OpKind::Log: return std::log(a);
    case OpKind::Sqrt: return std::sqrt(a);
    // The derivatives: (y, dy) or (x, dy).
    case OpKind::SigmoidGrad: return b * a * (Scalar(1) - a);
    case OpKind::HardSigmoidGrad: {
      Scalar ramp = Scalar(0.2) * a + Scalar(0.5);
      return ramp > Scalar(0) && ramp < Scalar(1) ? Scalar(0.2) * b : Scalar(0);
    }
    case OpKind::TanhGrad: return b * (Scalar(1) - a * a);
    case OpKind::ReluGrad: return a > Scalar(0) ? b : Scalar(0);
    default: fail("reference executor: {} is not elementwise", ir::opName(kind));
  }
}

int64_t normalized(int64_t axis, size_t rank) {
  return axis < 0 ? axis + static_cast<int64_t>(rank) : axis;
}

}  // namespace

template <typename Scalar>
ReferenceExecutor<Scalar>::ReferenceExecutor(const ir::Graph& graph)
    : graph_(graph),
      buffers_(graph.valueCount()),
      lastUse_(graph.valueCount(), -1),
      weightOnly_(ir::weightOnlyOps(graph)) {
  for (ir::ValueId id = 0; id < graph.valueCount(); ++id) {
    const ir::Value& value = graph.value(id);
    if (value.kind != ir::ValueKind::Weight && value.kind != ir::ValueKind::State) continue;
    buffers_[id].reals.assign(value.type.numElements(), Scalar(0));
  }
  const auto& ops = graph.ops();
  for (size_t index = 0; index < ops.size(); ++index)
    for (ir::ValueId operand : ops[index].operands) lastUse_[operand] = static_cast<int32_t>(index);
  for (const ir::GraphOutput& output : graph.outputs())
    lastUse_[output.value] = std::numeric_limits<int32_t>::max();
  for (size_t index = 0; index < ops.size(); ++index)
    if (weightOnly_[index]) lastUse_[ops[index].result] = std::numeric_limits<int32_t>::max();
}

template <typename Scalar>
ir::ValueId ReferenceExecutor<Scalar>::namedValue(const std::string& name) const {
  ir::ValueId id = graph_.findNamed(name);
  if (id == ir::kNoValue) fail("the graph has no weight, state or input named '{}'", name);
  return id;
}

template <typename Scalar>
void ReferenceExecutor<Scalar>::setTensor(const std::string& name, const Tensor& tensor) {
  ir::ValueId id = namedValue(name);
  const ir::Type& type = graph_.type(id);
  if (tensor.shape() != type.shape || tensor.dtype() != type.dtype)
    fail("'{}' must be {}, got {}{}", name, ir::formatType(type), dtypeName(tensor.dtype()),
         formatShape(tensor.shape()));
  Buffer& buffer = buffers_[id];
  if (graph_.value(id).kind == ir::ValueKind::Weight) weightsBound_ = false;
  if (tensor.dtype() == DType::Int32) {
    auto data = tensor.data<int32_t>();
    buffer.ids.assign(data.begin(), data.end());
  } else {
    auto data = tensor.data<float>();
    buffer.reals.assign(data.begin(), data.end());
  }
}

template <typename Scalar>
Tensor ReferenceExecutor<Scalar>::tensorOf(ir::ValueId id) const {
  const ir::Type& type = graph_.type(id);
  Tensor tensor(type.dtype, type.shape);
  if (type.dtype == DType::Int32) {
    std::copy(buffers_[id].ids.begin(), buffers_[id].ids.end(), tensor.data<int32_t>().begin());
  } else {
    std::copy(buffers_[id].reals.begin(), buffers_[id].reals.end(), tensor.data<float>().begin());
  }
  return tensor;
}

template <typename Scalar>
Tensor ReferenceExecutor<Scalar>::getTensor(const std::string& name) const {
  return tensorOf(namedValue(name));
}

template <typename Scalar>
std::vector<Scalar>& ReferenceExecutor<Scalar>::values(const std::string& name) {
  weightsBound_ = false;
  return buffers_[namedValue(name)].reals;
}

template <typename Scalar>
const std::vector<Scalar>& ReferenceExecutor<Scalar>::outputValues(const std::string& name) const {
  ir::ValueId id = graph_.findOutput(name);
  if (id == ir::kNoValue) fail("the graph has no output named '{}'", name);
  return buffers_[id].reals;
}

template <typename Scalar>
TensorMap ReferenceExecutor<Scalar>::run(const TensorMap& inputs) {
  for (ir::ValueId id : graph_.valuesOfKind(ir::ValueKind::Input)) {
    const std::string& name = graph_.value(id).name;
    auto found = inputs.find(name);
    if (found == inputs.end()) fail("the input '{}' is missing", name);
    setTensor(name, found->second);
  }

  const auto& ops = graph_.ops();
  if (!weightsBound_) {
    for (size_t index = 0; index < ops.size(); ++index)
      if (weightOnly_[index]) execute(ops[index]);
    weightsBound_ = true;
  }
  for (size_t index = 0; index < ops.size(); ++index) {
    if (weightOnly_[index]) continue;
    execute(ops[index]);
    // Free results whose last reader was this op.
    for (ir::ValueId operand : ops[index].operands)
      if (lastUse_[operand] == static_cast<int32_t>(index) &&
          graph_.value(operand).kind == ir::ValueKind::Result)
        buffers_[operand] = Buffer{};
  }

  TensorMap outputs;
  for (const ir::GraphOutput& output : graph_.outputs())
    outputs[output.name] = tensorOf(output.value);
  return outputs;
}

template <typename Scalar>
void ReferenceExecutor<Scalar>::execute(const ir::Op& op) {
  auto in = [&](int index) -> std::vector<Scalar>& { return buffers_[op.operands[index]].reals; };
  auto ids = [&](int index) -> std::vector<int32_t>& { return buffers_[op.operands[index]].ids; };
  auto shapeOf = [&](int index) -> const Shape& { return graph_.type(op.operands[index]).shape; };
  const ir::Attributes& attributes = op.attributes;

  const ir::Type* resultType = op.result == ir::kNoValue ? nullptr : &graph_.type(op.result);
  // Ops that move values also move token ids (stacked, transposed, sliced for lookups): those
  // are kept as integers, in `ids`.
  auto movesIds = [&] { return resultType && resultType->dtype == DType::Int32; };
  auto idsResult = [&]() -> std::vector<int32_t>& {
    buffers_[op.result].ids.assign(resultType->numElements(), 0);
    return buffers_[op.result].ids;
  };
  std::vector<Scalar> out(resultType ? resultType->numElements() : 0, Scalar(0));
  const Shape& outShape = resultType ? resultType->shape : shapeOf(0);

  auto unary = [&](auto function) {
    const std::vector<Scalar>& x = in(0);
    for (size_t i = 0; i < out.size(); ++i) out[i] = function(x[i]);
  };
  auto binary = [&](auto function) {
    const std::vector<Scalar>& a = in(0);
    const std::vector<Scalar>& b = in(1);
    if (shapeOf(0) == outShape && shapeOf(1) == outShape) {
      for (size_t i = 0; i < out.size(); ++i) out[i] = function(a[i], b[i]);
      return;
    }
    forEachIndex(outShape, broadcastStrides(shapeOf(0), outShape),
                 broadcastStrides(shapeOf(1), outShape),
                 [&](int64_t i, int64_t offsetA, int64_t offsetB) {
                   out[i] = function(a[offsetA], b[offsetB]);
                 });
  };

  if (ir::isElementwise(op.kind)) {
    Scalar factor = Scalar(attributes.has("factor") ? attributes.getFloat("factor") : 1.0);
    if (op.operands.size() == 1)
      unary([&](Scalar x) { return elementwiseValue(op.kind, factor, x, Scalar(0)); });
    else
      binary([&](Scalar a, Scalar b) { return elementwiseValue(op.kind, factor, a, b); });
    buffers_[op.result].reals = std::move(out);
    return;
  }

  switch (op.kind) {
    case OpKind::Fill:
      std::fill(out.begin(), out.end(), Scalar(attributes.getFloat("value")));
      break;

    case OpKind::Gather: {
      const std::vector<Scalar>& table = in(0);
      int64_t rows = shapeOf(0)[0];
      int64_t width = shapeOf(0)[1];
      const std::vector<int32_t>& indices = ids(1);
      for (size_t i = 0; i < indices.size(); ++i) {
        int32_t id = indices[i];
        if (id < 0 || id >= rows)
          fail("layer '{}': token id {} is out of range [0, {})", op.origin, id, rows);
        std::copy_n(table.begin() + id * width, width, out.begin() + i * width);
      }
      break;
    }
    case OpKind::ScatterAdd: {
      const std::vector<int32_t>& indices = ids(0);
      const std::vector<Scalar>& updates = in(1);
      int64_t rows = outShape[0];
      int64_t width = outShape[1];
      for (size_t i = 0; i < indices.size(); ++i) {
        int32_t id = indices[i];
        if (id < 0 || id >= rows)
          fail("layer '{}': token id {} is out of range [0, {})", op.origin, id, rows);
        for (int64_t j = 0; j < width; ++j) out[id * width + j] += updates[i * width + j];
      }
      break;
    }
    case OpKind::SparseGradient: {
      int64_t rows = attributes.getInt("rows");
      int64_t width = shapeOf(1).back();
      int64_t capacity = (outShape[0] - rows - 1) / (1 + width);
      std::fill(out.begin(), out.begin() + rows, Scalar(-1));
      Scalar* touched = out.data() + rows + 1;
      Scalar* values = touched + capacity;
      int64_t count = 0;
      for (size_t pair = 0; pair < op.operands.size(); pair += 2) {
        const std::vector<int32_t>& indices = ids(static_cast<int>(pair));
        const std::vector<Scalar>& updates = in(static_cast<int>(pair + 1));
        for (size_t i = 0; i < indices.size(); ++i) {
          int32_t id = indices[i];
          if (id < 0 || id >= rows)
            fail("layer '{}': token id {} is out of range [0, {})", op.origin, id, rows);
          if (out[id] < 0) {
            out[id] = Scalar(count);
            touched[count++] = Scalar(id);
          }
          auto slot = static_cast<int64_t>(out[id]);
          for (int64_t j = 0; j < width; ++j) values[slot * width + j] += updates[i * width + j];
        }
      }
      out[rows] = Scalar(count);
      break;
    }
    case OpKind::MatMul: {
      using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
      Eigen::Map<const Matrix> a(in(0).data(), shapeOf(0)[0], shapeOf(0)[1]);
      Eigen::Map<const Matrix> b(in(1).data(), shapeOf(1)[0], shapeOf(1)[1]);
      Eigen::Map<Matrix> c(out.data(), outShape[0], outShape[1]);
      bool transposeA = attributes.getInt("transpose_a", 0) != 0;
      bool transposeB = attributes.getInt("transpose_b", 0) != 0;
      if (transposeA && transposeB)
        c.noalias() = a.transpose() * b.transpose();
      else if (transposeA)
        c.noalias() = a.transpose() * b;
      else if (transposeB)
        c.noalias() = a * b.transpose();
      else
        c.noalias() = a * b;
      break;
    }
    case OpKind::FusedMatMulAdd: {
      using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
      Eigen::Map<const Matrix> a(in(0).data(), shapeOf(0)[0], shapeOf(0)[1]);
      Eigen::Map<const Matrix> addend(in(2).data(), outShape[0], outShape[1]);
      Eigen::Map<Matrix> c(out.data(), outShape[0], outShape[1]);
      if (shapeOf(1).size() == 3) {
        // Column panels [N / W, K, W]: each gives W columns of the product.
        int64_t k = shapeOf(1)[1], width = shapeOf(1)[2];
        for (int64_t panel = 0; panel < shapeOf(1)[0]; ++panel) {
          Eigen::Map<const Matrix> b(in(1).data() + panel * k * width, k, width);
          c.middleCols(panel * width, width).noalias() =
              a * b + addend.middleCols(panel * width, width);
        }
      } else {
        Eigen::Map<const Matrix> b(in(1).data(), shapeOf(1)[0], shapeOf(1)[1]);
        c.noalias() = a * b + addend;
      }
      if (op.operands.size() == 4)
        c.rowwise() += Eigen::Map<const Eigen::Matrix<Scalar, 1, Eigen::Dynamic>>(in(3).data(),
                                                                                 outShape[1]);
      break;
    }

    case OpKind::FusedElementwise: {
      std::vector<ir::ElementwiseStep> steps = ir::decodeElementwiseProgram(op);
      std::vector<Scalar> factors;
      for (const ir::ElementwiseStep& step : steps)
        factors.push_back(
            Scalar(step.attributes.has("factor") ? step.attributes.getFloat("factor") : 1.0));
      size_t arity = op.operands.size();
      std::vector<Shape> strides;
      for (size_t k = 0; k < arity; ++k) strides.push_back(broadcastStrides(shapeOf(k), outShape));
      Shape outStrides = stridesOf(outShape);
      std::vector<Scalar> values(arity + steps.size());
      for (int64_t flat = 0; flat < static_cast<int64_t>(out.size()); ++flat) {
        for (size_t k = 0; k < arity; ++k) {
          int64_t offset = 0;
          for (size_t axis = 0; axis < outShape.size(); ++axis)
            offset += flat / outStrides[axis] % outShape[axis] * strides[k][axis];
          values[k] = in(static_cast<int>(k))[offset];
        }
        for (size_t j = 0; j < steps.size(); ++j) {
          const std::vector<int32_t>& arguments = steps[j].arguments;
          values[arity + j] =
              elementwiseValue(steps[j].kind, factors[j], values[arguments[0]],
                               arguments.size() > 1 ? values[arguments[1]] : Scalar(0));
        }
        out[flat] = values.back();
      }
      break;
    }

    case OpKind::ReduceSum: {
      const Shape& inShape = shapeOf(0);
      Shape kept = inShape;
      for (int64_t axis : attributes.getInts("axes")) kept[normalized(axis, inShape.size())] = 1;
      Shape outStrides = broadcastStrides(kept, inShape);
      const std::vector<Scalar>& x = in(0);
      forEachIndex(inShape, outStrides, outStrides,
                   [&](int64_t i, int64_t offset, int64_t) { out[offset] += x[i]; });
      break;
    }
    case OpKind::BroadcastTo: {
      const std::vector<Scalar>& x = in(0);
      Shape strides = broadcastStrides(shapeOf(0), outShape);
      forEachIndex(outShape, strides, strides,
                   [&](int64_t i, int64_t offset, int64_t) { out[i] = x[offset]; });
      break;
    }
    case OpKind::Reshape:
      if (movesIds()) {
        buffers_[op.result].ids = ids(0);
        return;
      }
      out = in(0);
      break;
    case OpKind::Transpose: {
      const Shape& permutation = attributes.getInts("permutation");
      Shape inStrides = stridesOf(shapeOf(0));
      Shape strides(permutation.size());
      for (size_t axis = 0; axis < permutation.size(); ++axis)
        strides[axis] = inStrides[permutation[axis]];
      auto transpose = [&](auto& result, const auto& x) {
        forEachIndex(outShape, strides, strides,
                     [&](int64_t i, int64_t offset, int64_t) { result[i] = x[offset]; });
      };
      if (movesIds()) {
        transpose(idsResult(), ids(0));
        return;
      }
      transpose(out, in(0));
      break;
    }
    case OpKind::Slice:
    case OpKind::Pad: {
      bool isSlice = op.kind == OpKind::Slice;
      int64_t axis = normalized(attributes.getInt("axis"), outShape.size());
      AxisSplit source = splitAt(shapeOf(0), axis);
      AxisSplit target = splitAt(outShape, axis);
      int64_t first = attributes.getInt(isSlice ? "start" : "before");
      auto copyBlocks = [&](auto& result, const auto& x) {
        for (int64_t o = 0; o < source.outer; ++o) {
          for (int64_t k = 0; k < (isSlice ? target.size : source.size); ++k) {
            int64_t from = (o * source.size + (isSlice ? first + k : k)) * source.inner;
            int64_t to = (o * target.size + (isSlice ? k : first + k)) * target.inner;
            std::copy_n(x.begin() + from, source.inner, result.begin() + to);
          }
        }
      };
      if (movesIds()) {
        copyBlocks(idsResult(), ids(0));
        return;
      }
      copyBlocks(out, in(0));
      break;
    }
    case OpKind::Concat: {
      int64_t axis = normalized(attributes.getInt("axis"), outShape.size());
      AxisSplit target = splitAt(outShape, axis);
      auto concatenate = [&](auto& result, auto&& operandData) {
        int64_t offset = 0;
        for (size_t operand = 0; operand < op.operands.size(); ++operand) {
          AxisSplit source = splitAt(shapeOf(static_cast<int>(operand)), axis);
          const auto& x = operandData(static_cast<int>(operand));
          for (int64_t o = 0; o < source.outer; ++o)
            std::copy_n(x.begin() + o * source.size * source.inner, source.size * source.inner,
                        result.begin() + (o * target.size + offset) * target.inner);
          offset += source.size;
        }
      };
      if (movesIds()) {
        concatenate(idsResult(), ids);
        return;
      }
      concatenate(out, in);
      break;
    }

    case OpKind::BinaryCrossEntropy:
    case OpKind::BinaryCrossEntropyGrad: {
      const std::vector<Scalar>& p = in(0);
      const std::vector<Scalar>& y = in(1);
      Scalar count = Scalar(p.size());
      if (op.kind == OpKind::BinaryCrossEntropy) {
        Scalar sum = 0;
        for (size_t i = 0; i < p.size(); ++i) sum -= crossEntropyTerm(p[i], y[i]);
        out[0] = sum / count;
      } else {
        Scalar dloss = in(2)[0];
        for (size_t i = 0; i < p.size(); ++i)
          out[i] = dloss * crossEntropyDerivative(p[i], y[i]) / count;
      }
      break;
    }

    case OpKind::FusedLstmCell:
    case OpKind::FusedLstmCellGrad: {
      auto activation = static_cast<ir::Activation>(attributes.getInt("activation"));
      auto recurrent = static_cast<ir::Activation>(attributes.getInt("recurrent_activation"));
      const std::vector<Scalar>& z = in(0);
      const std::vector<Scalar>& cell = in(1);
      int64_t batch = shapeOf(1)[0], units = shapeOf(1)[1];
      bool backward = op.kind == OpKind::FusedLstmCellGrad;
      for (int64_t row = 0; row < batch; ++row) {
        for (int64_t unit = 0; unit < units; ++unit) {
          auto gate = [&](int64_t index) { return z[row * 4 * units + index * units + unit]; };
          Scalar i = activate(recurrent, gate(0)), f = activate(recurrent, gate(1));
          Scalar g = activate(activation, gate(2)), o = activate(recurrent, gate(3));
          Scalar c = cell[row * units + unit];
          Scalar next = f * c + i * g;
          Scalar squashed = activate(activation, next);
          // The states, and their gradients, are blocks of batch x units: h then c.
          int64_t state = row * units + unit, block = batch * units;
          if (!backward) {
            out[state] = o * squashed;
            out[block + state] = next;
            continue;
          }
          const std::vector<Scalar>& d = in(2);
          Scalar dh = d[state];
          Scalar dnext =
              d[block + state] + dh * o * activationDerivative(activation, next, squashed);
          Scalar* dz = &out[row * 4 * units];
          dz[unit] = dnext * g * activationDerivative(recurrent, gate(0), i);
          dz[units + unit] = dnext * c * activationDerivative(recurrent, gate(1), f);
          dz[2 * units + unit] = dnext * i * activationDerivative(activation, gate(2), g);
          dz[3 * units + unit] = dh * squashed * activationDerivative(recurrent, gate(3), o);
          out[4 * block + state] = dnext * f;
        }
      }
      break;
    }
    case OpKind::FusedDotDense: {
      auto activation = static_cast<ir::Activation>(attributes.getInt("activation"));
      const std::vector<Scalar>& a = in(0);
      const std::vector<Scalar>& b = in(1);
      const std::vector<Scalar>& kernel = in(2);
      const std::vector<Scalar>& bias = in(3);
      int64_t batch = shapeOf(0)[0], width = shapeOf(0)[1], units = outShape[1];
      for (int64_t row = 0; row < batch; ++row) {
        Scalar dot = 0;
        for (int64_t k = 0; k < width; ++k) dot += a[row * width + k] * b[row * width + k];
        for (int64_t n = 0; n < units; ++n)
          out[row * units + n] = activate(activation, dot * kernel[n] + bias[n]);
      }
      break;
    }

    case OpKind::FusedDotDenseLossGrad: {
      auto activation = static_cast<ir::Activation>(attributes.getInt("activation"));
      const std::vector<Scalar>& a = in(0);
      const std::vector<Scalar>& b = in(1);
      const std::vector<Scalar>& kernel = in(2);
      const std::vector<Scalar>& bias = in(3);
      const std::vector<Scalar>& labels = in(4);
      Scalar dloss = in(5)[0];
      ir::DotDenseLossLayout layout{shapeOf(0)[0], shapeOf(0)[1], shapeOf(2)[1]};
      int64_t width = layout.width, units = layout.units;
      Scalar count = Scalar(layout.batch * units);
      Scalar loss = 0;
      for (int64_t row = 0; row < layout.batch; ++row) {
        Scalar dot = 0;
        for (int64_t k = 0; k < width; ++k) dot += a[row * width + k] * b[row * width + k];
        Scalar ddot = 0;
        for (int64_t n = 0; n < units; ++n) {
          Scalar preactivation = dot * kernel[n] + bias[n];
          Scalar p = activate(activation, preactivation);
          Scalar y = labels[row * units + n];
          out[layout.probabilities() + row * units + n] = p;
          loss -= crossEntropyTerm(p, y);
          Scalar dp = dloss * crossEntropyDerivative(p, y) / count;
          Scalar dpreactivation = dp * activationDerivative(activation, preactivation, p);
          out[layout.kernelGradient() + n] += dot * dpreactivation;
          out[layout.biasGradient() + n] += dpreactivation;
          ddot += dpreactivation * kernel[n];
        }
        for (int64_t k = 0; k < width; ++k) {
          out[layout.leftGradient() + row * width + k] = ddot * b[row * width + k];
          out[layout.rightGradient() + row * width + k] = ddot * a[row * width + k];
        }
      }
      out[layout.loss()] = loss / count;
      break;
    }

    case OpKind::FusedGatherMatMul:
    case OpKind::FusedMatMulScatterAdd: {
      // The oracle materializes the rows the JIT's kernels never hold whole.
      using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
      bool gathering = op.kind == OpKind::FusedGatherMatMul;
      const std::vector<int32_t>& indices = ids(gathering ? 1 : 0);
      const Shape& bShape = shapeOf(2);
      Eigen::Map<const Matrix> b(in(2).data(), bShape[0], bShape[1]);
      int64_t rows = gathering ? shapeOf(0)[0] : outShape[0];
      for (int32_t id : indices)
        if (id < 0 || id >= rows)
          fail("layer '{}': token id {} is out of range [0, {})", op.origin, id, rows);
      auto count = static_cast<int64_t>(indices.size());
      if (gathering) {
        int64_t width = shapeOf(0)[1];
        Matrix gathered(count, width);
        for (int64_t i = 0; i < count; ++i)
          for (int64_t j = 0; j < width; ++j) gathered(i, j) = in(0)[indices[i] * width + j];
        Eigen::Map<Matrix> c(out.data(), outShape[0], outShape[1]);
        if (attributes.getInt("transpose_a", 0) != 0)
          c.noalias() = gathered.transpose() * b;
        else
          c.noalias() = gathered * b;
      } else {
        Eigen::Map<const Matrix> dy(in(1).data(), count, bShape[1]);
        Matrix updates = dy * b.transpose();
        int64_t width = outShape[1];
        if (op.operands.size() > 3) out = in(3);
        for (int64_t i = 0; i < count; ++i)
          for (int64_t j = 0; j < width; ++j) out[indices[i] * width + j] += updates(i, j);
      }
      break;
    }

    case OpKind::AdamUpdate: {
      std::vector<Scalar>& weight = in(0);
      const std::vector<Scalar>& gradient = in(1);
      AdamArithmetic<Scalar> adam(attributes, in(4)[0]);
      for (size_t i = 0; i < weight.size(); ++i)
        adam.apply(weight[i], in(2)[i], in(3)[i], gradient[i]);
      return;
    }
    case OpKind::AdamUpdateRows: {
      std::vector<Scalar>& weight = in(0);
      const std::vector<Scalar>& sparse = in(1);
      std::vector<Scalar>& m = in(2);
      std::vector<Scalar>& v = in(3);
      AdamArithmetic<Scalar> adam(attributes, in(4)[0]);
      int64_t rows = shapeOf(0)[0], width = shapeOf(0)[1];
      int64_t capacity = (shapeOf(1)[0] - rows - 1) / (1 + width);
      const Scalar* values = sparse.data() + rows + 1 + capacity;
      auto update = [&](int64_t row, const Scalar* gradient) {
        for (int64_t j = 0; j < width; ++j) {
          int64_t i = row * width + j;
          adam.apply(weight[i], m[i], v[i], gradient ? gradient[j] : Scalar(0));
        }
      };
      if (attributes.getInt("lazy", 0) != 0) {
        auto touched = static_cast<int64_t>(sparse[rows]);
        for (int64_t slot = 0; slot < touched; ++slot)
          update(static_cast<int64_t>(sparse[rows + 1 + slot]), values + slot * width);
      } else {
        for (int64_t row = 0; row < rows; ++row) {
          auto slot = static_cast<int64_t>(sparse[row]);
          update(row, slot < 0 ? nullptr : values + slot * width);
        }
      }
      return;
    }
    case OpKind::SgdUpdate: {
      std::vector<Scalar>& weight = in(0);
      const std::vector<Scalar>& gradient = in(1);
      std::vector<Scalar>& velocity = in(2);
      Scalar rate = Scalar(attributes.getFloat("learning_rate"));
      Scalar momentum = Scalar(attributes.getFloat("momentum"));
      bool nesterov = attributes.getInt("nesterov") != 0;
      for (size_t i = 0; i < weight.size(); ++i) {
        velocity[i] = momentum * velocity[i] - rate * gradient[i];
        weight[i] += nesterov ? momentum * velocity[i] - rate * gradient[i] : velocity[i];
      }
      return;
    }
    case OpKind::Assign: in(0) = in(1); return;
    default: fail("reference executor: no kernel for {}", ir::opName(op.kind));
  }
  buffers_[op.result].reals = std::move(out);
}

template class ReferenceExecutor<float>;
template class ReferenceExecutor<double>;

}  // namespace dlc
