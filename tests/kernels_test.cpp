// Generated kernels against the reference executor on shapes the example model does not have:
// the tiled matrix products (row and column remainders, Aᵀ·B) and the BLAS path.
#include <gtest/gtest.h>

#include <random>

#include "ir/graph.h"
#include "runtime/jit_executor.h"
#include "runtime/reference_executor.h"

namespace dlc {
namespace {

Tensor randomTensor(const Shape& shape, uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  Tensor tensor(DType::Float32, shape);
  for (float& value : tensor.data<float>()) value = uniform(generator);
  return tensor;
}

void expectNear(const Tensor& actual, const Tensor& expected, float tolerance) {
  ASSERT_EQ(actual.shape(), expected.shape());
  auto a = actual.data<float>();
  auto b = expected.data<float>();
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tolerance) << "element " << i;
}

struct MatMulCase {
  int64_t m, k, n;
  bool transposeA, transposeB;
};

class MatMulKernel : public ::testing::TestWithParam<MatMulCase> {};

TEST_P(MatMulKernel, MatchesTheReference) {
  const MatMulCase& c = GetParam();
  Shape aShape = c.transposeA ? Shape{c.k, c.m} : Shape{c.m, c.k};
  Shape bShape = c.transposeB ? Shape{c.n, c.k} : Shape{c.k, c.n};
  ir::Graph graph("matmul");
  ir::ValueId a = graph.addInput("a", {DType::Float32, aShape});
  ir::ValueId b = graph.addInput("b", {DType::Float32, bShape});
  ir::Attributes attributes;
  if (c.transposeA) attributes.set("transpose_a", int64_t{1});
  if (c.transposeB) attributes.set("transpose_b", int64_t{1});
  graph.addOutput("c", graph.addOp(ir::OpKind::MatMul, {a, b}, attributes));
  TensorMap inputs = {{"a", randomTensor(aShape, 1)}, {"b", randomTensor(bShape, 2)}};

  Tensor expected = ReferenceExecutor<float>(graph).run(inputs).at("c");
  for (bool tiled : {true, false}) {
    codegen::JitOptions options;
    options.tiledMatMul = tiled;
    JitExecutor jit(graph, options);
    SCOPED_TRACE(tiled ? "tiled" : "blas");
    expectNear(jit.run(inputs).at("c"), expected, 1e-4f * static_cast<float>(c.k));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MatMulKernel,
    ::testing::Values(MatMulCase{1, 128, 512, false, false}, MatMulCase{5, 7, 48, false, false},
                      MatMulCase{3, 9, 144, false, false}, MatMulCase{66, 33, 80, false, false},
                      MatMulCase{13, 6, 208, true, false}, MatMulCase{7, 5, 12, false, false},
                      MatMulCase{9, 11, 32, false, true}));

}  // namespace
}  // namespace dlc
