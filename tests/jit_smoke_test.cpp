// The first test of the suite: a tiny graph goes through code generation, links in the ORC JIT
// and runs. Its ops make the generated code call every helper the kernels may need (the matrix
// product, log, pow, sqrt, memset, memcpy) and use the straight-line exp, tanh and sigmoid, so a
// helper the JIT cannot find ("symbols not found") fails here first, by name.
#include <gtest/gtest.h>

#include <cmath>

#include "ir/builder.h"
#include "runtime/jit_executor.h"

namespace dlc {
namespace {

using ir::OpKind;

std::vector<float> valuesOf(const Tensor& tensor) {
  auto data = tensor.data<float>();
  return {data.begin(), data.end()};
}

TEST(JitSmoke, CompilesAndRunsElementwiseKernels) {
  ir::Graph graph("smoke");
  ir::ValueId x = graph.addWeight("x", {DType::Float32, {2, 8}}, false);
  ir::Builder b(graph, "smoke");
  graph.addOutput("exp", b.unary(OpKind::Exp, x));
  graph.addOutput("tanh", b.unary(OpKind::Tanh, x));
  graph.addOutput("sigmoid", b.unary(OpKind::Sigmoid, x));
  ir::ValueId positive = b.unary(OpKind::Exp, x);
  graph.addOutput("log", b.unary(OpKind::Log, positive));
  graph.addOutput("sqrt", b.unary(OpKind::Sqrt, positive));

  std::vector<float> inputs;
  for (int i = 0; i < 16; ++i) inputs.push_back(-4.0f + 0.53f * static_cast<float>(i));
  JitExecutor jit(graph);
  jit.setTensor("x", Tensor::fromFloats({2, 8}, inputs));
  TensorMap outputs = jit.run({});

  auto expectEach = [&](const std::string& name, double (*expected)(double)) {
    std::vector<float> actual = valuesOf(outputs.at(name));
    ASSERT_EQ(actual.size(), inputs.size()) << name;
    for (size_t i = 0; i < inputs.size(); ++i) {
      double reference = expected(inputs[i]);
      EXPECT_NEAR(actual[i], reference, 2e-6 * std::max(1.0, std::abs(reference)))
          << name << "(" << inputs[i] << ")";
    }
  };
  expectEach("exp", [](double v) { return std::exp(v); });
  expectEach("tanh", [](double v) { return std::tanh(v); });
  expectEach("sigmoid", [](double v) { return 1 / (1 + std::exp(-v)); });
  expectEach("log", [](double v) { return v; });
  expectEach("sqrt", [](double v) { return std::exp(v / 2); });
}

TEST(JitSmoke, CallsTheMatrixProductAndTheMemoryHelpers) {
  ir::Graph graph("smoke");
  ir::ValueId a = graph.addWeight("a", {DType::Float32, {2, 3}}, false);
  ir::ValueId b = graph.addWeight("b", {DType::Float32, {3, 2}}, false);
  ir::ValueId ids = graph.addInput("ids", {DType::Int32, {3}});
  ir::Builder builder(graph, "smoke");
  graph.addOutput("product", builder.matmul(a, b));
  // scatter_add zeroes its result with memset, reshape copies with memcpy.
  ir::ValueId rows =
      builder.op(OpKind::ScatterAdd, {ids, builder.transpose(b, {0, 1})}, {{"rows", int64_t{4}}});
  graph.addOutput("rows", builder.reshape(rows, {8}));

  JitExecutor jit(graph);
  jit.setTensor("a", Tensor::fromFloats({2, 3}, {1, 2, 3, 4, 5, 6}));
  jit.setTensor("b", Tensor::fromFloats({3, 2}, {1, -1, 2, 0.5f, -3, 4}));
  TensorMap outputs = jit.run({{"ids", Tensor::fromInts({3}, {3, 0, 3})}});

  EXPECT_EQ(valuesOf(outputs.at("product")), (std::vector<float>{-4, 12, -4, 22.5f}));
  EXPECT_EQ(valuesOf(outputs.at("rows")), (std::vector<float>{2, 0.5f, 0, 0, 0, 0, -2, 3}));
}

TEST(JitSmoke, RunsAnAdamStepThatCallsPow) {
  ir::Graph graph("smoke");
  ir::ValueId weight = graph.addWeight("w", {DType::Float32, {4}}, true);
  ir::ValueId gradient = graph.addWeight("g", {DType::Float32, {4}}, false);
  ir::ValueId m = graph.addState("m", {DType::Float32, {4}});
  ir::ValueId v = graph.addState("v", {DType::Float32, {4}});
  ir::ValueId step = graph.addState("step", {DType::Float32, {}});
  ir::Builder b(graph, "smoke");
  b.op(OpKind::AdamUpdate, {weight, gradient, m, v, step},
       {{"learning_rate", 0.1}, {"beta_1", 0.9}, {"beta_2", 0.999}, {"epsilon", 1e-7}});

  JitExecutor jit(graph);
  jit.setTensor("w", Tensor::fromFloats({4}, {1, 1, 1, 1}));
  jit.setTensor("g", Tensor::fromFloats({4}, {0.5f, -2, 0, 4}));
  jit.setTensor("step", Tensor::fromFloats({}, {1}));
  jit.run({});

  // After the first bias-corrected step each weight moves by the learning rate against the sign
  // of its gradient (and not at all where the gradient is 0).
  std::vector<float> expected = {0.9f, 1.1f, 1.0f, 0.9f};
  std::vector<float> actual = valuesOf(jit.getTensor("w"));
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(actual[i], expected[i], 1e-5) << i;
}

}  // namespace
}  // namespace dlc
