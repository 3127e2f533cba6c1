#include "ir/ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <numeric>

#include "support/error.h"

namespace dlc::ir {

std::string formatType(const Type& type) {
  std::string shape = formatShape(type.shape);
  return fmt::format("{}{}", dtypeName(type.dtype), shape);
}

Shape broadcastShapes(const Shape& left, const Shape& right) {
  size_t rank = std::max(left.size(), right.size());
  Shape result(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t a = i < rank - left.size() ? 1 : left[i - (rank - left.size())];
    int64_t b = i < rank - right.size() ? 1 : right[i - (rank - right.size())];
    if (a != b && a != 1 && b != 1)
      fail("shapes {} and {} do not broadcast", formatShape(left), formatShape(right));
    result[i] = a == 1 ? b : a;
  }
  return result;
}

namespace {

void expectFloat(const Type& type, const char* what) {
  if (type.dtype != DType::Float32) fail("{} must be f32, got {}", what, formatType(type));
}

int64_t normalizeAxis(int64_t axis, int64_t rank, const char* what) {
  int64_t normalized = axis < 0 ? axis + rank : axis;
  if (normalized < 0 || normalized >= rank)
    fail("{}: axis {} is out of range for rank {}", what, axis, rank);
  return normalized;
}

Type inferFill(const std::vector<Type>&, const Attributes& attributes) {
  return {DType::Float32, attributes.getInts("shape")};
}

Type inferGather(const std::vector<Type>& operands, const Attributes&) {
  const Type& table = operands[0];
  const Type& ids = operands[1];
  expectFloat(table, "gather table");
  if (table.rank() != 2) fail("gather table must be rank 2, got {}", formatType(table));
  if (ids.dtype != DType::Int32) fail("gather ids must be i32, got {}", formatType(ids));
  Shape shape = ids.shape;
  shape.push_back(table.shape[1]);
  return {DType::Float32, shape};
}

Type inferScatterAdd(const std::vector<Type>& operands, const Attributes& attributes) {
  const Type& ids = operands[0];
  const Type& updates = operands[1];
  if (ids.dtype != DType::Int32) fail("scatter_add ids must be i32, got {}", formatType(ids));
  Shape expected = ids.shape;
  expected.push_back(updates.shape.empty() ? 0 : updates.shape.back());
  if (updates.shape != expected)
    fail("scatter_add updates must be {}, got {}", formatShape(expected),
         formatShape(updates.shape));
  return {DType::Float32, {attributes.getInt("rows"), updates.shape.back()}};
}

Type inferMatMul(const std::vector<Type>& operands, const Attributes& attributes) {
  const Type& a = operands[0];
  const Type& b = operands[1];
  expectFloat(a, "matmul operand");
  expectFloat(b, "matmul operand");
  if (a.rank() != 2 || b.rank() != 2)
    fail("matmul takes rank-2 operands, got {} and {}", formatType(a), formatType(b));
  bool transposeA = attributes.getInt("transpose_a", 0) != 0;
  bool transposeB = attributes.getInt("transpose_b", 0) != 0;
  int64_t m = transposeA ? a.shape[1] : a.shape[0];
  int64_t k = transposeA ? a.shape[0] : a.shape[1];
  int64_t kOfB = transposeB ? b.shape[1] : b.shape[0];
  int64_t n = transposeB ? b.shape[0] : b.shape[1];
  if (k != kOfB) fail("matmul inner sizes differ: {} and {}", formatType(a), formatType(b));
  return {DType::Float32, {m, n}};
}

Type inferBinary(const std::vector<Type>& operands, const Attributes&) {
  expectFloat(operands[0], "elementwise operand");
  expectFloat(operands[1], "elementwise operand");
  return {DType::Float32, broadcastShapes(operands[0].shape, operands[1].shape)};
}

Type inferUnary(const std::vector<Type>& operands, const Attributes&) {
  expectFloat(operands[0], "elementwise operand");
  return operands[0];
}

Type inferSameShapes(const std::vector<Type>& operands, const Attributes&) {
  for (const Type& operand : operands) {
    expectFloat(operand, "operand");
    if (operand.shape != operands[0].shape)
      fail("operands must have the same shape, got {} and {}", formatType(operands[0]),
           formatType(operand));
  }
  return operands[0];
}

Type inferReduceSum(const std::vector<Type>& operands, const Attributes& attributes) {
  const Type& input = operands[0];
  bool keepDims = attributes.getInt("keepdims", 0) != 0;
  std::vector<bool> reduced(input.shape.size(), false);
  for (int64_t axis : attributes.getInts("axes"))
    reduced[normalizeAxis(axis, input.rank(), "reduce_sum")] = true;
  Shape shape;
  for (size_t i = 0; i < input.shape.size(); ++i) {
    if (!reduced[i])
      shape.push_back(input.shape[i]);
    else if (keepDims)
      shape.push_back(1);
  }
  return {input.dtype, shape};
}

Type inferBroadcastTo(const std::vector<Type>& operands, const Attributes& attributes) {
  const Shape& target = attributes.getInts("shape");
  if (broadcastShapes(operands[0].shape, target) != target)
    fail("cannot broadcast {} to {}", formatType(operands[0]), formatShape(target));
  return {operands[0].dtype, target};
}

Type inferReshape(const std::vector<Type>& operands, const Attributes& attributes) {
  const Shape& target = attributes.getInts("shape");
  if (numElements(target) != operands[0].numElements())
    fail("cannot reshape {} to {}", formatType(operands[0]), formatShape(target));
  return {operands[0].dtype, target};
}

Type inferTranspose(const std::vector<Type>& operands, const Attributes& attributes) {
  const Shape& permutation = attributes.getInts("permutation");
  const Type& input = operands[0];
  Shape sorted = permutation;
  std::sort(sorted.begin(), sorted.end());
  Shape identity(input.shape.size());
  std::iota(identity.begin(), identity.end(), 0);
  if (sorted != identity)
    fail("transpose permutation {} does not fit {}", formatShape(permutation), formatType(input));
  Shape shape;
  for (int64_t axis : permutation) shape.push_back(input.shape[axis]);
  return {input.dtype, shape};
}

Type inferSlice(const std::vector<Type>& operands, const Attributes& attributes) {
  Type result = operands[0];
  int64_t axis = normalizeAxis(attributes.getInt("axis"), result.rank(), "slice");
  int64_t start = attributes.getInt("start");
  int64_t end = attributes.getInt("end");
  if (start < 0 || end <= start || end > result.shape[axis])
    fail("slice [{}, {}) is out of range for axis {} of {}", start, end, axis, formatType(result));
  result.shape[axis] = end - start;
  return result;
}

Type inferPad(const std::vector<Type>& operands, const Attributes& attributes) {
  Type result = operands[0];
  int64_t axis = normalizeAxis(attributes.getInt("axis"), result.rank(), "pad");
  int64_t before = attributes.getInt("before");
  int64_t after = attributes.getInt("after");
  if (before < 0 || after < 0) fail("pad sizes must not be negative");
  result.shape[axis] += before + after;
  return result;
}

Type inferConcat(const std::vector<Type>& operands, const Attributes& attributes) {
  Type result = operands[0];
  int64_t axis = normalizeAxis(attributes.getInt("axis"), result.rank(), "concat");
  result.shape[axis] = 0;
  for (const Type& operand : operands) {
    Shape expected = operands[0].shape;
    expected[axis] = operand.rank() == result.rank() ? operand.shape[axis] : -1;
    if (operand.dtype != result.dtype || operand.shape != expected)
      fail("concat operands must agree except on axis {}, got {} and {}", axis,
           formatType(operands[0]), formatType(operand));
    result.shape[axis] += operand.shape[axis];
  }
  return result;
}

Type inferBinaryCrossEntropy(const std::vector<Type>& operands, const Attributes&) {
  inferSameShapes({operands[0], operands[1]}, {});
  return {DType::Float32, {}};
}

Type inferBinaryCrossEntropyGrad(const std::vector<Type>& operands, const Attributes&) {
  inferSameShapes({operands[0], operands[1]}, {});
  if (operands[2].numElements() != 1) fail("the loss gradient must be a scalar");
  return operands[0];
}

Type inferAdamUpdate(const std::vector<Type>& operands, const Attributes&) {
  inferSameShapes({operands[0], operands[1], operands[2], operands[3]}, {});
  if (operands[4].numElements() != 1) fail("adam_update step must be a scalar");
  return {};
}

Type inferSparseGradient(const std::vector<Type>& operands, const Attributes& attributes) {
  if (operands.size() % 2 != 0) fail("sparse_gradient takes pairs of ids and updates");
  int64_t ids = 0, width = -1;
  for (size_t pair = 0; pair < operands.size(); pair += 2) {
    Type scattered = inferScatterAdd({operands[pair], operands[pair + 1]}, attributes);
    if (width >= 0 && scattered.shape[1] != width)
      fail("sparse_gradient updates must all be {} wide, got {}", width, scattered.shape[1]);
    width = scattered.shape[1];
    ids += operands[pair].numElements();
  }
  return {DType::Float32, {attributes.getInt("rows") + 1 + ids * (1 + width)}};
}

Type inferAdamUpdateRows(const std::vector<Type>& operands, const Attributes&) {
  const Type& param = operands[0];
  if (param.rank() != 2) fail("adam_update_rows takes a table, got {}", formatType(param));
  int64_t rows = param.shape[0], width = param.shape[1];
  int64_t packed = operands[1].numElements() - rows - 1;
  if (operands[1].rank() != 1 || packed < 0 || packed % (1 + width) != 0)
    fail("adam_update_rows: {} is not a sparse gradient of {}", formatType(operands[1]),
         formatType(param));
  inferSameShapes({param, operands[2], operands[3]}, {});
  if (operands[4].numElements() != 1) fail("adam_update_rows step must be a scalar");
  return {};
}

Type inferSgdUpdate(const std::vector<Type>& operands, const Attributes&) {
  inferSameShapes(operands, {});
  return {};
}

Type inferAssign(const std::vector<Type>& operands, const Attributes&) {
  if (operands[0] != operands[1])
    fail("assign needs equal types, got {} and {}", formatType(operands[0]),
         formatType(operands[1]));
  return {};
}

void expectMatrix(const Type& type, int64_t rows, int64_t columns, const char* what) {
  if (type.dtype != DType::Float32 || type.shape != Shape{rows, columns})
    fail("{} must be f32[{}, {}], got {}", what, rows, columns, formatType(type));
}

Type inferFusedLstmCell(const std::vector<Type>& operands, const Attributes&) {
  const Type& cell = operands[1];
  if (cell.rank() != 2) fail("fused_lstm_cell state must be rank 2, got {}", formatType(cell));
  int64_t batch = cell.shape[0], units = cell.shape[1];
  expectMatrix(operands[0], batch, 4 * units, "fused_lstm_cell gates");
  return {DType::Float32, {2, batch, units}};
}

Type inferFusedLstmCellGrad(const std::vector<Type>& operands, const Attributes& attributes) {
  Type forward = inferFusedLstmCell({operands[0], operands[1]}, attributes);
  if (operands[2] != forward)
    fail("fused_lstm_cell_grad gradient must be {}, got {}", formatType(forward),
         formatType(operands[2]));
  return {DType::Float32, {5 * forward.shape[1] * forward.shape[2]}};
}

Type inferFusedDotDense(const std::vector<Type>& operands, const Attributes&) {
  const Type& left = operands[0];
  if (left.rank() != 2) fail("fused_dot_dense operands must be rank 2, got {}", formatType(left));
  expectMatrix(operands[1], left.shape[0], left.shape[1], "fused_dot_dense second operand");
  const Type& kernel = operands[2];
  if (kernel.rank() != 2 || kernel.shape[0] != 1)
    fail("fused_dot_dense kernel must be [1, units], got {}", formatType(kernel));
  if (operands[3].shape != Shape{kernel.shape[1]})
    fail("fused_dot_dense bias must be [{}], got {}", kernel.shape[1], formatType(operands[3]));
  return {DType::Float32, {left.shape[0], kernel.shape[1]}};
}

Type inferFusedDotDenseLossGrad(const std::vector<Type>& operands, const Attributes& attributes) {
  Type probabilities = inferFusedDotDense({operands.begin(), operands.begin() + 4}, attributes);
  if (operands[4] != probabilities)
    fail("fused_dot_dense_loss_grad labels must be {}, got {}", formatType(probabilities),
         formatType(operands[4]));
  if (operands[5].numElements() != 1) fail("the loss gradient must be a scalar");
  DotDenseLossLayout layout{operands[0].shape[0], operands[0].shape[1], probabilities.shape[1]};
  return {DType::Float32, {layout.size()}};
}

Type inferFusedGatherMatMul(const std::vector<Type>& operands, const Attributes& attributes) {
  const Type& b = operands[2];
  inferGather({operands[0], operands[1]}, attributes);  // checks the table and the ids
  int64_t count = operands[1].numElements(), width = operands[0].shape[1];
  if (b.rank() != 2) fail("fused_gather_matmul: the right operand must be rank 2");
  if (attributes.getInt("transpose_a", 0) != 0) {
    expectMatrix(b, count, b.shape[1], "fused_gather_matmul (transposed) right operand");
    return {DType::Float32, {width, b.shape[1]}};
  }
  expectMatrix(b, width, b.shape[1], "fused_gather_matmul right operand");
  return {DType::Float32, {count, b.shape[1]}};
}

Type inferFusedMatMulScatterAdd(const std::vector<Type>& operands, const Attributes& attributes) {
  if (operands.size() != 3 && operands.size() != 4)
    fail("fused_matmul_scatter_add takes 3 or 4 operands, got {}", operands.size());
  const Type& ids = operands[0];
  const Type& b = operands[2];
  if (ids.dtype != DType::Int32) fail("fused_matmul_scatter_add ids must be i32");
  if (b.rank() != 2) fail("fused_matmul_scatter_add: the right operand must be rank 2");
  expectMatrix(operands[1], ids.numElements(), b.shape[1], "fused_matmul_scatter_add gradient");
  Type result{DType::Float32, {attributes.getInt("rows"), b.shape[0]}};
  if (operands.size() == 4)
    expectMatrix(operands[3], result.shape[0], result.shape[1], "fused_matmul_scatter_add addend");
  return result;
}

Type inferFusedMatMulAdd(const std::vector<Type>& operands, const Attributes&) {
  if (operands.size() != 3 && operands.size() != 4)
    fail("fused_matmul_add takes 3 or 4 operands, got {}", operands.size());
  Type right = operands[1];
  if (right.rank() == 3) {
    // Column panels [N / W, K, W]: the product is that of the [K, N] matrix they hold.
    expectFloat(right, "fused_matmul_add operand");
    if (right.shape[0] < 1 || right.shape[2] < 1)
      fail("fused_matmul_add: empty column panels {}", formatType(right));
    right.shape = {right.shape[1], right.shape[0] * right.shape[2]};
  }
  Type product = inferMatMul({operands[0], right}, {});
  expectMatrix(operands[2], product.shape[0], product.shape[1], "fused_matmul_add addend");
  if (operands.size() == 4) {
    expectFloat(operands[3], "fused_matmul_add bias");
    if (operands[3].shape != Shape{product.shape[1]})
      fail("fused_matmul_add bias must be f32[{}], got {}", product.shape[1],
           formatType(operands[3]));
  }
  return product;
}

Type inferFusedElementwise(const std::vector<Type>& operands, const Attributes&) {
  Shape shape;
  for (const Type& operand : operands) {
    expectFloat(operand, "fused_elementwise operand");
    shape = broadcastShapes(shape, operand.shape);
  }
  return {DType::Float32, shape};
}

// Rules shared by several kinds.
#define inferAdd inferBinary
#define inferSub inferBinary
#define inferMul inferBinary
#define inferDiv inferBinary
#define inferNeg inferUnary
#define inferScale inferUnary
#define inferSigmoid inferUnary
#define inferHardSigmoid inferUnary
#define inferTanh inferUnary
#define inferRelu inferUnary
#define inferExp inferUnary
#define inferLog inferUnary
#define inferSqrt inferUnary
#define inferSigmoidGrad inferSameShapes
#define inferHardSigmoidGrad inferSameShapes
#define inferTanhGrad inferSameShapes
#define inferReluGrad inferSameShapes

const std::array<OpInfo, kOpKindCount> kOpTable = {{
#define DLC_OP(kind, name, arity, sideEffects) {name, arity, sideEffects, &infer##kind},
#include "ir/ops.def"
}};

}  // namespace

const OpInfo& opInfo(OpKind kind) { return kOpTable[static_cast<size_t>(kind)]; }

bool isElementwise(OpKind kind) {
  switch (kind) {
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Neg:
    case OpKind::Scale:
    case OpKind::Sigmoid:
    case OpKind::HardSigmoid:
    case OpKind::Tanh:
    case OpKind::Relu:
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::SigmoidGrad:
    case OpKind::HardSigmoidGrad:
    case OpKind::TanhGrad:
    case OpKind::ReluGrad: return true;
    default: return false;
  }
}

}  // namespace dlc::ir
