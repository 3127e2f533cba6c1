// The JIT against the reference executor on every op of ir/ops.def, forward and backward: each
// case of the op table (tests/op_cases.cpp) runs with its gradients on both executors, with the
// memory plan on and off (and arenas poisoned under CTest). The op's result, the loss and every
// value the graph keeps must agree with the float reference; the JIT's float gradients must
// agree with the double-precision reference that the gradient checks validate.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "passes/gradients.h"
#include "passes/pass.h"
#include "runtime/jit_executor.h"
#include "runtime/reference_executor.h"
#include "tests/op_cases.h"

namespace dlc {
namespace {

using testing::OpCase;

/// Float against float: only the order of sums and the polynomial exp differ.
constexpr double kSameTolerance = 2e-6;
/// Float against double: rounding in float through a few ops.
constexpr double kDoubleTolerance = 1e-4;

/// Every element within `relative` of the largest magnitude of `expected` (or of 1e-3).
template <typename Expected>
void expectClose(const Tensor& actual, const std::vector<Expected>& expected, double relative,
                 const std::string& what) {
  ASSERT_EQ(actual.numElements(), static_cast<int64_t>(expected.size())) << what;
  if (actual.dtype() == DType::Int32) {
    auto ids = actual.data<int32_t>();
    for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(ids[i], expected[i]) << what << i;
    return;
  }
  double scale = 1e-3;
  for (Expected value : expected) scale = std::max(scale, std::abs(double(value)));
  auto values = actual.data<float>();
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(values[i], double(expected[i]), relative * scale) << what << "[" << i << "]";
}

std::vector<float> floatsOf(const Tensor& tensor) {
  if (tensor.dtype() == DType::Int32) {
    auto ids = tensor.data<int32_t>();
    return {ids.begin(), ids.end()};
  }
  auto values = tensor.data<float>();
  return {values.begin(), values.end()};
}

/// (case, reuse memory)
class JitAgainstReference : public ::testing::TestWithParam<std::tuple<OpCase, bool>> {};

TEST_P(JitAgainstReference, OutputsGradientsAndStateAgree) {
  const auto& [opCase, reuseMemory] = GetParam();
  testing::BuiltCase built = testing::buildCase(opCase, true);

  JitExecutor jit(built.graph, {.reuseMemory = reuseMemory});
  ReferenceExecutor<float> reference(built.graph);
  ReferenceExecutor<double> precise(built.graph);
  for (const auto& [name, tensor] : built.values) {
    jit.setTensor(name, tensor);
    reference.setTensor(name, tensor);
    precise.setTensor(name, tensor);
  }
  // Twice: ops that update state in place must agree on the state they leave behind too.
  TensorMap jitOutputs, referenceOutputs;
  for (int run = 0; run < 2; ++run) {
    jitOutputs = jit.run(built.inputs);
    referenceOutputs = reference.run(built.inputs);
    precise.run(built.inputs);
  }

  ASSERT_EQ(jitOutputs.size(), referenceOutputs.size());
  for (const auto& [name, expected] : referenceOutputs) {
    ASSERT_TRUE(jitOutputs.count(name)) << name;
    expectClose(jitOutputs.at(name), floatsOf(expected), kSameTolerance, "output " + name);
    if (name.starts_with("grad/"))
      expectClose(jitOutputs.at(name), precise.outputValues(name), kDoubleTolerance,
                  "output " + name + " against double precision");
  }
  for (ir::ValueKind kind : {ir::ValueKind::Input, ir::ValueKind::Weight, ir::ValueKind::State}) {
    for (ir::ValueId id : built.graph.valuesOfKind(kind)) {
      const std::string& name = built.graph.value(id).name;
      expectClose(jit.getTensor(name), floatsOf(reference.getTensor(name)), kSameTolerance,
                  "'" + name + "' after two runs");
    }
  }
  if (built.hasGradients) {
    for (const std::string& weight : built.trainableWeights)
      EXPECT_TRUE(jitOutputs.count(passes::gradientOutputName(weight))) << weight;
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, JitAgainstReference,
                         ::testing::Combine(::testing::ValuesIn(testing::opCases()),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param).name + (std::get<1>(info.param)
                                                                      ? "_memory_plan_on"
                                                                      : "_memory_plan_off");
                         });

/// NaN in, NaN out, on both executors: the JIT's polynomials and clamps must not turn a
/// diverging run's NaN into finite values (sigmoid(NaN) once gave 1, a clipped loss a number).
TEST(JitAgainstReferenceNaN, ElementwiseOpsAndTheLossKeepNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> values(37);
  for (size_t i = 0; i < values.size(); ++i) values[i] = i % 3 == 0 ? nan : 0.25f * float(i) - 4;
  Tensor input(DType::Float32, {int64_t(values.size())});
  std::copy(values.begin(), values.end(), input.data<float>().begin());
  Tensor labels(DType::Float32, input.shape());
  for (float& label : labels.data<float>()) label = 1;

  for (ir::OpKind kind : {ir::OpKind::Sigmoid, ir::OpKind::Tanh, ir::OpKind::Exp,
                          ir::OpKind::HardSigmoid, ir::OpKind::Relu}) {
    ir::Graph graph("nan");
    ir::ValueId x = graph.addInput("x", {DType::Float32, input.shape()});
    graph.addOutput("y", graph.addOp(kind, {x}, {}));
    Tensor jit = JitExecutor(graph).run({{"x", input}}).at("y");
    Tensor reference = ReferenceExecutor<float>(graph).run({{"x", input}}).at("y");
    for (size_t i = 0; i < values.size(); ++i) {
      float expected = reference.data<float>()[i];
      EXPECT_EQ(std::isnan(expected), std::isnan(values[i])) << ir::opName(kind) << " " << i;
      EXPECT_EQ(std::isnan(jit.data<float>()[i]), std::isnan(expected))
          << ir::opName(kind) << "[" << i << "]: " << jit.data<float>()[i];
    }
  }

  ir::Graph graph("nan_loss");
  ir::ValueId p = graph.addInput("p", {DType::Float32, input.shape()});
  ir::ValueId y = graph.addInput("y", {DType::Float32, input.shape()});
  graph.addOutput("loss", graph.addOp(ir::OpKind::BinaryCrossEntropy, {p, y}, {}));
  TensorMap inputs = {{"p", input}, {"y", labels}};
  EXPECT_TRUE(std::isnan(ReferenceExecutor<float>(graph).run(inputs).at("loss").data<float>()[0]));
  EXPECT_TRUE(std::isnan(JitExecutor(graph).run(inputs).at("loss").data<float>()[0]));
}

/// The JIT's exponential and the activations built on it, across the whole range of floats
/// where e^x is finite and past it, against the C library in double.
TEST(JitAgainstReferenceRange, ExpSigmoidAndTanhHoldTheirPrecisionEverywhere) {
  std::vector<float> values;
  for (float x = -100; x <= 100; x += 0.0625f) values.push_back(x);
  for (float x : {-87.0f, -86.99f, 88.0f, 87.99f, 1e-8f, -1e-8f, 0.0f}) values.push_back(x);
  const float infinity = std::numeric_limits<float>::infinity();
  values.push_back(infinity);
  values.push_back(-infinity);
  Tensor input(DType::Float32, {int64_t(values.size())});
  std::copy(values.begin(), values.end(), input.data<float>().begin());

  for (ir::OpKind kind : {ir::OpKind::Exp, ir::OpKind::Sigmoid, ir::OpKind::Tanh}) {
    ir::Graph graph("range");
    ir::ValueId x = graph.addInput("x", {DType::Float32, input.shape()});
    graph.addOutput("y", graph.addOp(kind, {x}, {}));
    Tensor result = JitExecutor(graph).run({{"x", input}}).at("y");
    auto y = result.data<float>();
    for (size_t i = 0; i < values.size(); ++i) {
      double x = values[i], actual = y[i];
      if (kind == ir::OpKind::Exp) {
        // Clamped to [-87, 88]: e^88 stands for overflow, e^-87 for underflow.
        double expected = std::exp(std::clamp(x, -87.0, 88.0));
        EXPECT_NEAR(actual, expected, 4e-7 * expected) << "exp(" << x << ")";
        continue;
      }
      double expected = kind == ir::OpKind::Sigmoid ? 1 / (1 + std::exp(-x)) : std::tanh(x);
      EXPECT_NEAR(actual, expected, 3e-7) << ir::opName(kind) << "(" << x << ")";
    }
  }
}

TEST(JitAgainstReferenceTable, EveryOpHasACase) {
  for (ir::OpKind kind : testing::allOpKinds()) {
    int cases = 0;
    for (const OpCase& opCase : testing::opCases()) cases += opCase.kind == kind;
    EXPECT_GT(cases, 0) << ir::opName(kind) << " has no case in tests/op_cases.cpp";
  }
}

}  // namespace
}  // namespace dlc
