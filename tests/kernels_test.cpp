// Generated kernels against the reference executor on shapes the example model does not have:
// the tiled matrix products (row and column remainders, Aᵀ·B), the dot-product kernel of A·Bᵀ,
// the embedding lookups fused with products, and the BLAS path.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "ir/graph.h"
#include "runtime/jit_executor.h"
#include "runtime/reference_executor.h"
#include "support/error.h"

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
    // The same code on one thread and shared out over two.
    for (int threads : {1, 2}) {
      codegen::setThreadCount(threads);
      SCOPED_TRACE(fmt::format("{}, {} thread(s)", tiled ? "tiled" : "blas", threads));
      expectNear(jit.run(inputs).at("c"), expected, 1e-4f * static_cast<float>(c.k));
    }
    codegen::setThreadCount(1);
  }
}

// Among them: tiles of 6 rows and what is left, products on one thread and split, B read in
// place and copied a block at a time (from 24 rows, K up to 256).
INSTANTIATE_TEST_SUITE_P(
    Shapes, MatMulKernel,
    ::testing::Values(MatMulCase{1, 128, 512, false, false}, MatMulCase{5, 7, 48, false, false},
                      MatMulCase{3, 9, 144, false, false}, MatMulCase{66, 33, 80, false, false},
                      MatMulCase{13, 6, 208, true, false}, MatMulCase{7, 5, 12, false, false},
                      MatMulCase{9, 11, 32, false, true}, MatMulCase{64, 128, 512, false, false},
                      MatMulCase{2, 16, 256, false, false}, MatMulCase{6, 32, 7, false, true},
                      MatMulCase{64, 512, 128, false, true}, MatMulCase{1, 48, 9, false, true},
                      MatMulCase{19, 32, 10, false, true}, MatMulCase{31, 40, 448, true, false},
                      MatMulCase{50, 256, 128, false, false},
                      MatMulCase{40, 300, 128, false, false}));

// A product whose right operand comes in column panels ([N / W, K, W], as pack-weight-panels
// lays out a weight), with an addend and a bias, against the product of the whole matrix.
struct PanelCase {
  int64_t m, k, n, width;
};

class PanelMatMulKernel : public ::testing::TestWithParam<PanelCase> {};

TEST_P(PanelMatMulKernel, MatchesTheProductOfTheWholeMatrix) {
  const PanelCase& c = GetParam();
  auto productGraph = [&](bool panels) {
    ir::Graph graph("panels");
    ir::ValueId a = graph.addInput("a", {DType::Float32, {c.m, c.k}});
    ir::ValueId b = graph.addInput("b", {DType::Float32, {c.k, c.n}});
    ir::ValueId addend = graph.addInput("addend", {DType::Float32, {c.m, c.n}});
    ir::ValueId bias = graph.addInput("bias", {DType::Float32, {c.n}});
    if (panels) {
      ir::ValueId strips =
          graph.addOp(ir::OpKind::Reshape, {b}, {{"shape", Shape{c.k, c.n / c.width, c.width}}});
      b = graph.addOp(ir::OpKind::Transpose, {strips}, {{"permutation", Shape{1, 0, 2}}});
    }
    graph.addOutput("c", graph.addOp(ir::OpKind::FusedMatMulAdd, {a, b, addend, bias}));
    return graph;
  };
  TensorMap inputs = {{"a", randomTensor({c.m, c.k}, 1)},
                      {"b", randomTensor({c.k, c.n}, 2)},
                      {"addend", randomTensor({c.m, c.n}, 3)},
                      {"bias", randomTensor({c.n}, 4)}};

  Tensor expected = ReferenceExecutor<float>(productGraph(false)).run(inputs).at("c");
  ir::Graph graph = productGraph(true);
  expectNear(ReferenceExecutor<float>(graph).run(inputs).at("c"), expected, 1e-5f * c.k);
  for (bool tiled : {true, false}) {
    codegen::JitOptions options;
    options.tiledMatMul = tiled;
    JitExecutor jit(graph, options);
    for (int threads : {1, 2}) {
      codegen::setThreadCount(threads);
      SCOPED_TRACE(fmt::format("{}, {} thread(s)", tiled ? "tiled" : "blas", threads));
      expectNear(jit.run(inputs).at("c"), expected, 1e-5f * static_cast<float>(c.k));
    }
    codegen::setThreadCount(1);
  }
}

// The LSTM's step at batch 64 and 1 (two questions: 2 rows, in tiles of 128 columns over two
// panels), remainders of rows, and panels of one vector.
INSTANTIATE_TEST_SUITE_P(Shapes, PanelMatMulKernel,
                         ::testing::Values(PanelCase{128, 128, 512, 64}, PanelCase{2, 128, 512, 64},
                                           PanelCase{7, 16, 256, 64}, PanelCase{5, 7, 48, 16}));

// The embedding lookups fused with a product, at sizes the generated kernels take (N a multiple
// of 16): a gathered A·B with a row remainder, the transposed form in tiles with a partial last
// tile, the scatter-add form with repeated ids. Two threads give the bits of one.
struct FusedGatherCase {
  ir::OpKind kind;
  bool transposed;
  int64_t count, width, columns;
};

class FusedGatherKernel : public ::testing::TestWithParam<FusedGatherCase> {};

TEST_P(FusedGatherKernel, MatchesTheReferenceOnAnyThreadCount) {
  const FusedGatherCase& c = GetParam();
  constexpr int64_t kTableRows = 300;
  ir::Graph graph("fused_gather");
  ir::ValueId ids = graph.addInput("ids", {DType::Int32, {c.count}});
  ir::ValueId result;
  TensorMap inputs;
  Tensor idValues(DType::Int32, {c.count});
  for (int64_t i = 0; i < c.count; ++i) idValues.data<int32_t>()[i] = (i * 37 + i / 3) % kTableRows;
  inputs["ids"] = idValues;
  if (c.kind == ir::OpKind::FusedGatherMatMul) {
    ir::ValueId table = graph.addInput("table", {DType::Float32, {kTableRows, c.width}});
    Shape bShape = c.transposed ? Shape{c.count, c.columns} : Shape{c.width, c.columns};
    ir::ValueId b = graph.addInput("b", {DType::Float32, bShape});
    ir::Attributes attributes;
    if (c.transposed) attributes.set("transpose_a", int64_t{1});
    result = graph.addOp(c.kind, {table, ids, b}, attributes);
    inputs["table"] = randomTensor({kTableRows, c.width}, 1);
    inputs["b"] = randomTensor(bShape, 2);
  } else {
    ir::ValueId dy = graph.addInput("dy", {DType::Float32, {c.count, c.columns}});
    ir::ValueId b = graph.addInput("b", {DType::Float32, {c.width, c.columns}});
    result = graph.addOp(c.kind, {ids, dy, b}, {{"rows", kTableRows}});
    inputs["dy"] = randomTensor({c.count, c.columns}, 3);
    inputs["b"] = randomTensor({c.width, c.columns}, 4);
  }
  graph.addOutput("c", result);

  Tensor expected = ReferenceExecutor<float>(graph).run(inputs).at("c");
  int64_t depth = c.kind == ir::OpKind::FusedMatMulScatterAdd ? c.columns * 8
                  : c.transposed                              ? c.count
                                                              : c.width;
  for (bool tiled : {true, false}) {
    codegen::JitOptions options;
    options.tiledMatMul = tiled;
    JitExecutor jit(graph, options);
    codegen::setThreadCount(1);
    Tensor single = jit.run(inputs).at("c");
    expectNear(single, expected, 1e-4f * static_cast<float>(depth));
    codegen::setThreadCount(2);
    Tensor shared = jit.run(inputs).at("c");
    codegen::setThreadCount(1);
    auto a = single.data<float>(), b = shared.data<float>();
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin())) << (tiled ? "tiled" : "blas");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FusedGatherKernel,
    ::testing::Values(FusedGatherCase{ir::OpKind::FusedGatherMatMul, false, 130, 32, 512},
                      FusedGatherCase{ir::OpKind::FusedGatherMatMul, false, 7, 24, 48},
                      FusedGatherCase{ir::OpKind::FusedGatherMatMul, true, 1100, 16, 128},
                      FusedGatherCase{ir::OpKind::FusedGatherMatMul, true, 70, 128, 512},
                      FusedGatherCase{ir::OpKind::FusedMatMulScatterAdd, false, 300, 128, 64},
                      FusedGatherCase{ir::OpKind::FusedMatMulScatterAdd, false, 9, 8, 32}));

// A plain lookup (the folded embedding's, at inference), small and large enough to be shared
// out over the pool: the rows copied exactly, the last ones too, whatever the thread count.
TEST(GatherKernel, CopiesEveryRowOnAnyThreadCount) {
  constexpr int64_t kTableRows = 300, kWidth = 512;
  for (int64_t count : {int64_t{3}, int64_t{140}}) {
    SCOPED_TRACE(fmt::format("{} ids", count));
    ir::Graph graph("gather");
    ir::ValueId table = graph.addInput("table", {DType::Float32, {kTableRows, kWidth}});
    ir::ValueId ids = graph.addInput("ids", {DType::Int32, {2, count / 2 + count % 2}});
    graph.addOutput("rows", graph.addOp(ir::OpKind::Gather, {table, ids}));
    Tensor idValues(DType::Int32, graph.type(ids).shape);
    auto idData = idValues.data<int32_t>();
    for (size_t i = 0; i < idData.size(); ++i)  // repeated ids, the first and the last row
      idData[i] = i % 5 == 4 ? kTableRows - 1 : static_cast<int32_t>((i * 37) % 17);
    TensorMap inputs = {{"table", randomTensor({kTableRows, kWidth}, 1)}, {"ids", idValues}};

    Tensor expected = ReferenceExecutor<float>(graph).run(inputs).at("rows");
    JitExecutor jit(graph);
    for (int threads : {1, 2}) {
      codegen::setThreadCount(threads);
      Tensor actual = jit.run(inputs).at("rows");
      auto a = actual.data<float>(), b = expected.data<float>();
      EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << threads << " thread(s)";
    }
    codegen::setThreadCount(1);
  }
}

// The embedding's Adam from its touched rows against dense Adam on the summed scatter_adds:
// the same arithmetic in exact mode, and only the touched rows moving in lazy mode.
class AdamRows : public ::testing::Test {
 protected:
  static constexpr int64_t kRows = 50, kWidth = 24;

  struct Setup {
    ir::Graph graph{"adam"};
    ir::ValueId table, m, v, step;
  };

  static void declare(Setup& setup) {
    ir::Graph& graph = setup.graph;
    setup.table = graph.addWeight("table", {DType::Float32, {kRows, kWidth}}, true);
    setup.m = graph.addState("m", {DType::Float32, {kRows, kWidth}});
    setup.v = graph.addState("v", {DType::Float32, {kRows, kWidth}});
    setup.step = graph.addState("step", {DType::Float32, {}});
  }

  static ir::Attributes adamAttributes() {
    return {{"learning_rate", 1e-2}, {"beta_1", 0.9}, {"beta_2", 0.999}, {"epsilon", 1e-7}};
  }

  /// Two batches of ids (with repeats, and rows in both) and their updates.
  static TensorMap inputs() {
    Tensor first(DType::Int32, {2, 3}), second(DType::Int32, {4});
    std::vector<int32_t> a = {3, 7, 3, 0, 49, 7}, b = {7, 12, 12, 3};
    std::copy(a.begin(), a.end(), first.data<int32_t>().begin());
    std::copy(b.begin(), b.end(), second.data<int32_t>().begin());
    return {{"ids1", first},
            {"ids2", second},
            {"updates1", randomTensor({2, 3, kWidth}, 3)},
            {"updates2", randomTensor({4, kWidth}, 4)}};
  }

  /// Dense (scatter_adds, add, adam_update) or from rows (sparse_gradient, adam_update_rows).
  static std::unique_ptr<Setup> build(bool rows, bool lazy) {
    auto setup = std::make_unique<Setup>();
    declare(*setup);
    ir::Graph& graph = setup->graph;
    ir::ValueId ids1 = graph.addInput("ids1", {DType::Int32, {2, 3}});
    ir::ValueId ids2 = graph.addInput("ids2", {DType::Int32, {4}});
    ir::ValueId updates1 = graph.addInput("updates1", {DType::Float32, {2, 3, kWidth}});
    ir::ValueId updates2 = graph.addInput("updates2", {DType::Float32, {4, kWidth}});
    ir::Attributes attributes = adamAttributes();
    if (rows) {
      ir::ValueId sparse = graph.addOp(ir::OpKind::SparseGradient, {ids1, updates1, ids2, updates2},
                                       {{"rows", kRows}});
      attributes.set("lazy", int64_t{lazy});
      graph.addOp(ir::OpKind::AdamUpdateRows,
                  {setup->table, sparse, setup->m, setup->v, setup->step}, attributes);
    } else {
      ir::ValueId first = graph.addOp(ir::OpKind::ScatterAdd, {ids1, updates1}, {{"rows", kRows}});
      ir::ValueId second = graph.addOp(ir::OpKind::ScatterAdd, {ids2, updates2}, {{"rows", kRows}});
      ir::ValueId sum = graph.addOp(ir::OpKind::Add, {first, second});
      graph.addOp(ir::OpKind::AdamUpdate, {setup->table, sum, setup->m, setup->v, setup->step},
                  attributes);
    }
    return setup;
  }

  /// Runs one update from the same starting state; returns table, m and v.
  static std::vector<Tensor> update(Executor& executor) {
    executor.setTensor("table", randomTensor({kRows, kWidth}, 5));
    executor.setTensor("m", randomTensor({kRows, kWidth}, 6));
    Tensor v = randomTensor({kRows, kWidth}, 7);
    for (float& value : v.data<float>()) value = value * value;
    executor.setTensor("v", v);
    Tensor step(DType::Float32, {});
    step.data<float>()[0] = 3;
    executor.setTensor("step", step);
    executor.run(inputs());
    return {executor.getTensor("table"), executor.getTensor("m"), executor.getTensor("v")};
  }
};

TEST_F(AdamRows, ExactModeMatchesDenseAdamOnEveryRow) {
  auto dense = build(false, false);
  auto rows = build(true, false);
  ReferenceExecutor<float> oracle(dense->graph);
  std::vector<Tensor> expected = update(oracle);
  ReferenceExecutor<float> reference(rows->graph);
  JitExecutor jit(rows->graph);
  for (int threads : {1, 2}) {
    codegen::setThreadCount(threads);
    for (Executor* executor : {static_cast<Executor*>(&reference), static_cast<Executor*>(&jit)}) {
      std::vector<Tensor> actual = update(*executor);
      for (size_t k = 0; k < actual.size(); ++k) expectNear(actual[k], expected[k], 1e-6f);
    }
  }
  codegen::setThreadCount(1);
}

TEST_F(AdamRows, LazyModeMovesOnlyTheTouchedRows) {
  auto dense = build(false, false);
  auto lazy = build(true, true);
  ReferenceExecutor<float> oracle(dense->graph);
  std::vector<Tensor> moved = update(oracle);
  ReferenceExecutor<float> untouchedOracle(lazy->graph);
  JitExecutor jit(lazy->graph);
  std::vector<Tensor> reference = update(untouchedOracle);
  codegen::setThreadCount(2);
  std::vector<Tensor> compiled = update(jit);
  codegen::setThreadCount(1);

  Tensor initialTable = randomTensor({kRows, kWidth}, 5);
  std::vector<int32_t> touched = {0, 3, 7, 12, 49};
  for (int64_t row = 0; row < kRows; ++row) {
    bool used = std::find(touched.begin(), touched.end(), row) != touched.end();
    for (int64_t j = 0; j < kWidth; ++j) {
      int64_t i = row * kWidth + j;
      float expected = used ? moved[0].data<float>()[i] : initialTable.data<float>()[i];
      ASSERT_NEAR(reference[0].data<float>()[i], expected, 1e-6f) << "row " << row;
      ASSERT_NEAR(compiled[0].data<float>()[i], expected, 1e-6f) << "row " << row;
    }
  }
}

// Dense Adam over a tensor large enough to be shared out in chunks, with a last partial chunk.
TEST(DenseAdam, InChunksOnTwoThreadsMatchesTheReference) {
  constexpr int64_t kElements = 70001;
  ir::Graph graph("adam");
  ir::ValueId weight = graph.addWeight("w", {DType::Float32, {kElements}}, true);
  ir::ValueId gradient = graph.addInput("g", {DType::Float32, {kElements}});
  ir::ValueId m = graph.addState("m", {DType::Float32, {kElements}});
  ir::ValueId v = graph.addState("v", {DType::Float32, {kElements}});
  ir::ValueId step = graph.addState("step", {DType::Float32, {}});
  graph.addOp(ir::OpKind::AdamUpdate, {weight, gradient, m, v, step},
              {{"learning_rate", 1e-2}, {"beta_1", 0.9}, {"beta_2", 0.999}, {"epsilon", 1e-7}});
  auto run = [&](Executor& executor) {
    executor.setTensor("w", randomTensor({kElements}, 1));
    Tensor one(DType::Float32, {});
    one.data<float>()[0] = 1;
    executor.setTensor("step", one);
    executor.run({{"g", randomTensor({kElements}, 2)}});
    return executor.getTensor("w");
  };
  ReferenceExecutor<float> reference(graph);
  Tensor expected = run(reference);
  JitExecutor jit(graph);
  codegen::setThreadCount(2);
  Tensor actual = run(jit);
  codegen::setThreadCount(1);
  expectNear(actual, expected, 1e-6f);
  EXPECT_NE(actual.data<float>()[kElements - 1],
            randomTensor({kElements}, 1).data<float>()[kElements - 1]);
}

// Ids outside the table would make the gather read outside it: the run refuses them first.
TEST(GatherKernel, RefusesIdsOutOfRange) {
  ir::Graph graph("gather");
  ir::ValueId table = graph.addWeight("table", {DType::Float32, {10, 4}}, true);
  ir::ValueId ids = graph.addInput("ids", {DType::Int32, {3}});
  graph.addOutput("rows", graph.addOp(ir::OpKind::Gather, {table, ids}));
  JitExecutor jit(graph);
  Tensor good(DType::Int32, {3}), bad(DType::Int32, {3});
  std::vector<int32_t> goodIds = {0, 9, 4}, badIds = {0, 10, 4};
  std::copy(goodIds.begin(), goodIds.end(), good.data<int32_t>().begin());
  std::copy(badIds.begin(), badIds.end(), bad.data<int32_t>().begin());
  EXPECT_NO_THROW(jit.run({{"ids", good}}));
  EXPECT_THROW(jit.run({{"ids", bad}}), Error);
}

}  // namespace
}  // namespace dlc
