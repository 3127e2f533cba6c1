#include "tests/op_cases.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ir/elementwise_program.h"
#include "passes/gradients.h"
#include "passes/pass.h"

namespace dlc::testing {

namespace {

using ir::OpKind;
using ir::ValueId;

/// FNV-1a, so that a case's seed depends on its name only.
uint64_t hashName(const std::string& name) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : name) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

bool nearKink(double value) {
  for (double kink : {0.0, 2.5, -2.5})
    if (std::abs(value - kink) < 0.02) return true;
  return false;
}

ir::Attributes activations(ir::Activation activation, ir::Activation recurrent) {
  return {{"activation", static_cast<int64_t>(activation)},
          {"recurrent_activation", static_cast<int64_t>(recurrent)}};
}

OpCase unaryCase(const std::string& name, OpKind kind, Range range) {
  return {name, kind, [=](OpCaseBuilder& c) {
            return c.builder().unary(kind, c.weight("x", {2, 3, 4}, range));
          }};
}

/// (a, b) of the given shapes into `kind`; b drawn from `rangeOfB`.
OpCase binaryCase(const std::string& name, OpKind kind, Shape a, Shape b,
                  Range rangeOfB = kSigned) {
  return {name, kind, [=](OpCaseBuilder& c) {
            return c.builder().op(kind, {c.weight("a", a), c.weight("b", b, rangeOfB)});
          }};
}

/// An activation's derivative op on (x or y, dy), both frozen: it has no gradient rule.
OpCase derivativeCase(const std::string& name, OpKind kind, Range range) {
  return {name, kind, [=](OpCaseBuilder& c) {
            return c.builder().op(kind, {c.frozen("x", {3, 5}, range), c.frozen("dy", {3, 5})});
          }};
}

OpCase matMulCase(const std::string& name, bool transposeA, bool transposeB) {
  return {name, OpKind::MatMul, [=](OpCaseBuilder& c) {
            Shape a = transposeA ? Shape{4, 3} : Shape{3, 4};
            Shape b = transposeB ? Shape{2, 4} : Shape{4, 2};
            return c.builder().matmul(c.weight("a", a), c.weight("b", b), transposeA, transposeB);
          }};
}

/// a[rows, 5] · b + addend (+ bias), with b [5, columns] or in column panels of `panelWidth`.
OpCase matMulAddCase(const std::string& name, int64_t rows, int64_t columns, bool bias,
                     int64_t panelWidth = 0) {
  return {name, OpKind::FusedMatMulAdd, [=](OpCaseBuilder& c) {
            Shape b =
                panelWidth == 0 ? Shape{5, columns} : Shape{columns / panelWidth, 5, panelWidth};
            std::vector<ValueId> operands = {c.frozen("a", {rows, 5}), c.frozen("b", b),
                                             c.frozen("addend", {rows, columns})};
            if (bias) operands.push_back(c.frozen("bias", {columns}));
            return c.builder().op(OpKind::FusedMatMulAdd, operands);
          }};
}

OpCase lstmCellCase(const std::string& name, ir::Activation activation, ir::Activation recurrent) {
  return {
      name, OpKind::FusedLstmCell, [=](OpCaseBuilder& c) {
        ValueId z = c.weight("z", {2, 12}, kWide);
        ValueId cell = c.weight("cell", {2, 3});
        return c.builder().op(OpKind::FusedLstmCell, {z, cell}, activations(activation, recurrent));
      }};
}

OpCase dotDenseCase(const std::string& name, ir::Activation activation) {
  return {name, OpKind::FusedDotDense, [=](OpCaseBuilder& c) {
            ValueId a = c.weight("a", {3, 4});
            ValueId b = c.weight("b", {3, 4});
            ValueId kernel = c.weight("kernel", {1, 2});
            ValueId bias = c.weight("bias", {2});
            return c.builder().op(OpKind::FusedDotDense, {a, b, kernel, bias},
                                  {{"activation", static_cast<int64_t>(activation)}});
          }};
}

/// The training step of a dot + dense layer and its loss; every operand frozen (the op runs after
/// autodiff, it has no gradient rule). The labels are 0 and 1, with predictions on both sides.
OpCase dotDenseLossCase(const std::string& name, ir::Activation activation) {
  return {name, OpKind::FusedDotDenseLossGrad, [=](OpCaseBuilder& c) {
            ValueId a = c.frozen("a", {3, 4});
            ValueId b = c.frozen("b", {3, 4});
            ValueId kernel = c.frozen("kernel", {1, 2});
            ValueId bias = c.frozen("bias", {2}, kProbability);
            ValueId labels = c.frozen("y", {3, 2}, {1, 0, 0, 1, 1, 1});
            ValueId dloss = c.frozen("dloss", {}, std::vector<float>{1.5f});
            return c.builder().op(OpKind::FusedDotDenseLossGrad,
                                  {a, b, kernel, bias, labels, dloss},
                                  {{"activation", static_cast<int64_t>(activation)}});
          }};
}

/// Adam over a table's rows from a sparse gradient with repeated ids, exact or lazy.
OpCase adamRowsCase(const char* name, bool lazy) {
  return {name, OpKind::AdamUpdateRows, [lazy](OpCaseBuilder& c) {
            ValueId table = c.weight("table", {6, 3});
            ValueId ids = c.ids("ids", {2, 2}, {4, 1, 4, 2});
            ValueId sparse = c.builder().op(OpKind::SparseGradient, {ids, c.frozen("u", {2, 2, 3})},
                                            {{"rows", int64_t{6}}});
            c.builder().op(OpKind::AdamUpdateRows,
                           {table, sparse, c.state("m", {6, 3}), c.state("v", {6, 3}, kProbability),
                            c.state("step", {}, std::vector<float>{3})},
                           {{"learning_rate", 0.01},
                            {"beta_1", 0.9},
                            {"beta_2", 0.999},
                            {"epsilon", 1e-7},
                            {"lazy", int64_t{lazy}}});
            return ir::kNoValue;
          }};
}

OpCase sgdCase(const std::string& name, bool nesterov) {
  return {name, OpKind::SgdUpdate, [=](OpCaseBuilder& c) {
            ValueId weight = c.weight("w", {2, 3});
            ValueId gradient = c.frozen("g", {2, 3});
            ValueId velocity = c.state("velocity", {2, 3});
            c.builder().op(
                OpKind::SgdUpdate, {weight, gradient, velocity},
                {{"learning_rate", 0.1}, {"momentum", 0.9}, {"nesterov", int64_t{nesterov}}});
            return ir::kNoValue;
          }};
}

std::vector<OpCase> makeCases() {
  using ir::Activation;
  std::vector<OpCase> cases = {
      {"fill", OpKind::Fill,
       [](OpCaseBuilder& c) {
         return c.builder().fill({2, 3}, 0.75);
       }},

      // Repeated ids: the gradient is a scatter-add, so rows used twice get both shares.
      {"gather_repeated_ids", OpKind::Gather,
       [](OpCaseBuilder& c) {
         ValueId table = c.weight("table", {5, 3});
         ValueId ids = c.ids("ids", {2, 4}, {1, 3, 1, 1, 0, 3, 1, 4});
         return c.builder().op(OpKind::Gather, {table, ids});
       }},
      {"scatter_add_repeated_ids", OpKind::ScatterAdd,
       [](OpCaseBuilder& c) {
         ValueId ids = c.ids("ids", {2, 3}, {2, 0, 2, 4, 2, 0});
         ValueId updates = c.weight("updates", {2, 3, 3});
         return c.builder().op(OpKind::ScatterAdd, {ids, updates}, {{"rows", int64_t{5}}});
       }},

      matMulCase("matmul", false, false),
      matMulCase("matmul_transpose_a", true, false),
      matMulCase("matmul_transpose_b", false, true),
      matMulCase("matmul_transpose_both", true, true),

      binaryCase("add", OpKind::Add, {2, 3}, {2, 3}),
      binaryCase("add_broadcast", OpKind::Add, {2, 3, 4}, {3, 1}),
      binaryCase("sub_broadcast", OpKind::Sub, {1, 4}, {3, 4}),
      binaryCase("sub_both_broadcast", OpKind::Sub, {2, 1, 4}, {3, 1}),
      binaryCase("mul_by_scalar", OpKind::Mul, {2, 3}, {}),
      binaryCase("mul", OpKind::Mul, {2, 3}, {2, 3}),
      binaryCase("mul_broadcast", OpKind::Mul, {2, 3}, {3}),
      binaryCase("div", OpKind::Div, {2, 3}, {2, 3}, kPositive),
      binaryCase("div_broadcast", OpKind::Div, {2, 3}, {2, 1}, kPositive),
      unaryCase("neg", OpKind::Neg, kSigned),
      {"scale", OpKind::Scale,
       [](OpCaseBuilder& c) {
         return c.builder().scale(c.weight("x", {2, 3}), -1.5);
       }},
      unaryCase("sigmoid", OpKind::Sigmoid, kWide),
      unaryCase("hard_sigmoid", OpKind::HardSigmoid, kWide),
      unaryCase("tanh", OpKind::Tanh, kWide),
      unaryCase("relu", OpKind::Relu, kSigned),
      unaryCase("exp", OpKind::Exp, kWide),
      unaryCase("log", OpKind::Log, kPositive),
      unaryCase("sqrt", OpKind::Sqrt, kPositive),

      derivativeCase("sigmoid_grad", OpKind::SigmoidGrad, kProbability),
      derivativeCase("hard_sigmoid_grad", OpKind::HardSigmoidGrad, kWide),
      derivativeCase("tanh_grad", OpKind::TanhGrad, kSigned),
      derivativeCase("relu_grad", OpKind::ReluGrad, kSigned),

      {"reduce_sum_middle_axis", OpKind::ReduceSum,
       [](OpCaseBuilder& c) {
         return c.builder().reduceSum(c.weight("x", {2, 3, 4}), {1}, false);
       }},
      {"reduce_sum_outer_axes_kept", OpKind::ReduceSum,
       [](OpCaseBuilder& c) {
         return c.builder().reduceSum(c.weight("x", {2, 3, 4}), {0, 2}, true);
       }},
      {"reduce_sum_negative_axis", OpKind::ReduceSum,
       [](OpCaseBuilder& c) {
         return c.builder().reduceSum(c.weight("x", {2, 3, 4}), {-1}, false);
       }},
      {"reduce_sum_to_scalar", OpKind::ReduceSum,
       [](OpCaseBuilder& c) {
         return c.builder().reduceSum(c.weight("x", {2, 3}), {0, 1}, false);
       }},
      {"broadcast_to", OpKind::BroadcastTo,
       [](OpCaseBuilder& c) {
         return c.builder().broadcastTo(c.weight("x", {3, 1}), {2, 3, 4});
       }},
      {"broadcast_scalar", OpKind::BroadcastTo,
       [](OpCaseBuilder& c) {
         return c.builder().broadcastTo(c.weight("x", {}), {2, 2});
       }},
      {"reshape", OpKind::Reshape,
       [](OpCaseBuilder& c) {
         return c.builder().reshape(c.weight("x", {2, 6}), {3, 2, 2});
       }},
      {"reshape_ids", OpKind::Reshape,
       [](OpCaseBuilder& c) {
         return c.builder().reshape(c.ids("ids", {2, 3}, {5, 0, 7, 7, 1, 2}), {3, 2});
       },
       false},
      {"transpose", OpKind::Transpose,
       [](OpCaseBuilder& c) {
         return c.builder().transpose(c.weight("x", {2, 3, 4}), {2, 0, 1});
       }},
      {"slice_middle_axis", OpKind::Slice,
       [](OpCaseBuilder& c) {
         return c.builder().slice(c.weight("x", {2, 5, 3}), 1, 1, 4);
       }},
      {"slice_last_axis", OpKind::Slice,
       [](OpCaseBuilder& c) {
         return c.builder().slice(c.weight("x", {2, 5, 3}), -1, 0, 2);
       }},
      {"pad_last_axis", OpKind::Pad,
       [](OpCaseBuilder& c) {
         return c.builder().pad(c.weight("x", {2, 3}), 1, 1, 2);
       }},
      {"pad_first_axis", OpKind::Pad,
       [](OpCaseBuilder& c) {
         return c.builder().pad(c.weight("x", {2, 3}), 0, 0, 1);
       }},
      {"pad_negative_axis", OpKind::Pad,
       [](OpCaseBuilder& c) {
         return c.builder().pad(c.weight("x", {2, 3}), -1, 2, 0);
       }},
      {"concat_three", OpKind::Concat,
       [](OpCaseBuilder& c) {
         ValueId a = c.weight("a", {2, 1}), b = c.weight("b", {2, 3}), d = c.weight("d", {2, 2});
         return c.builder().concat({a, b, d}, 1);
       }},
      {"concat_first_axis", OpKind::Concat,
       [](OpCaseBuilder& c) {
         return c.builder().concat({c.weight("a", {1, 3}), c.weight("b", {2, 3})}, 0);
       }},

      {"concat_negative_axis", OpKind::Concat,
       [](OpCaseBuilder& c) {
         return c.builder().concat({c.weight("a", {2, 2}), c.weight("b", {2, 1})}, -1);
       }},

      {"binary_cross_entropy", OpKind::BinaryCrossEntropy,
       [](OpCaseBuilder& c) {
         ValueId predictions = c.weight("p", {4, 1}, kProbability);
         ValueId labels = c.frozen("y", {4, 1}, {0, 1, 1, 0});
         return c.builder().op(OpKind::BinaryCrossEntropy, {predictions, labels});
       }},
      // Predictions of exactly 0 and 1 are clipped: the loss stays finite.
      {"binary_cross_entropy_clipped", OpKind::BinaryCrossEntropy,
       [](OpCaseBuilder& c) {
         ValueId predictions = c.weight("p", {4}, std::vector<float>{0, 1, 0.25f, 1});
         ValueId labels = c.frozen("y", {4}, {1, 0, 1, 1});
         return c.builder().op(OpKind::BinaryCrossEntropy, {predictions, labels});
       },
       false},
      {"binary_cross_entropy_grad", OpKind::BinaryCrossEntropyGrad,
       [](OpCaseBuilder& c) {
         // The clipped predictions (0 and 1) pass no gradient.
         ValueId predictions = c.frozen("p", {2, 3}, {0.2f, 0, 0.7f, 1, 0.5f, 0.9f});
         ValueId labels = c.frozen("y", {2, 3}, {0, 1, 1, 0, 1, 0});
         ValueId dloss = c.frozen("dloss", {}, std::vector<float>{1.5f});
         return c.builder().op(OpKind::BinaryCrossEntropyGrad, {predictions, labels, dloss});
       }},

      lstmCellCase("fused_lstm_cell", Activation::Tanh, Activation::Sigmoid),
      lstmCellCase("fused_lstm_cell_hard_sigmoid", Activation::Tanh, Activation::HardSigmoid),
      lstmCellCase("fused_lstm_cell_linear", Activation::Linear, Activation::HardSigmoid),
      {"fused_lstm_cell_grad", OpKind::FusedLstmCellGrad,
       [](OpCaseBuilder& c) {
         ValueId z = c.frozen("z", {2, 12}, kWide);
         ValueId cell = c.frozen("cell", {2, 3});
         ValueId d = c.frozen("d", {2, 2, 3});
         return c.builder().op(OpKind::FusedLstmCellGrad, {z, cell, d},
                               activations(Activation::Tanh, Activation::HardSigmoid));
       }},
      dotDenseCase("fused_dot_dense", Activation::Sigmoid),
      dotDenseCase("fused_dot_dense_linear", Activation::Linear),
      dotDenseCase("fused_dot_dense_tanh", Activation::Tanh),
      dotDenseLossCase("fused_dot_dense_loss_grad", Activation::Sigmoid),
      dotDenseLossCase("fused_dot_dense_loss_grad_linear", Activation::Linear),

      // tanh(a * b + c) * 0.5 - sigmoid_grad(d, a): broadcast operands, a scale's factor, a
      // derivative op and steps reading earlier steps. It runs after autodiff: no gradient rule.
      {"fused_elementwise_chain", OpKind::FusedElementwise,
       [](OpCaseBuilder& c) {
         using ir::ElementwiseStep;
         std::vector<ValueId> operands = {c.frozen("a", {2, 3}), c.frozen("b", {3}),
                                          c.frozen("c", {2, 1}),
                                          c.frozen("d", {2, 3}, kProbability)};
         std::vector<ElementwiseStep> steps = {
             {OpKind::Mul, {0, 1}, {}},                // 4: a * b
             {OpKind::Add, {4, 2}, {}},                // 5: + c
             {OpKind::Tanh, {5}, {}},                  // 6
             {OpKind::Scale, {6}, {{"factor", 0.5}}},  // 7
             {OpKind::SigmoidGrad, {3, 0}, {}},        // 8: d (1 - d) a
             {OpKind::Sub, {7, 8}, {}},
         };
         return c.builder().op(OpKind::FusedElementwise, operands,
                               ir::encodeElementwiseProgram(steps));
       }},

      // Repeated ids in both: the table's gradient adds the shares of rows used twice.
      {"fused_gather_matmul_repeated_ids", OpKind::FusedGatherMatMul,
       [](OpCaseBuilder& c) {
         ValueId table = c.weight("table", {5, 3});
         ValueId ids = c.ids("ids", {2, 3}, {1, 4, 1, 0, 4, 4});
         ValueId b = c.weight("b", {3, 4});
         return c.builder().op(OpKind::FusedGatherMatMul, {table, ids, b});
       }},
      // The transposed form only appears in backward graphs, where it has no gradient rule.
      {"fused_gather_matmul_transpose_a", OpKind::FusedGatherMatMul,
       [](OpCaseBuilder& c) {
         ValueId table = c.frozen("table", {5, 3});
         ValueId ids = c.ids("ids", {2, 3}, {2, 2, 0, 4, 1, 2});
         ValueId dy = c.frozen("dy", {6, 4});
         return c.builder().op(OpKind::FusedGatherMatMul, {table, ids, dy},
                               {{"transpose_a", int64_t{1}}});
       },
       false},
      {"fused_matmul_scatter_add_repeated_ids", OpKind::FusedMatMulScatterAdd,
       [](OpCaseBuilder& c) {
         ValueId ids = c.ids("ids", {2, 3}, {3, 0, 3, 3, 1, 0});
         ValueId dy = c.frozen("dy", {6, 4});
         ValueId b = c.frozen("b", {3, 4});
         return c.builder().op(OpKind::FusedMatMulScatterAdd, {ids, dy, b}, {{"rows", int64_t{5}}});
       }},
      // Six rows (a tile of four and one of two) by 32 columns take the generated kernel, four
      // columns BLAS. It runs after autodiff: no gradient rule.
      matMulAddCase("fused_matmul_add", 6, 32, false),
      matMulAddCase("fused_matmul_add_bias", 6, 32, true),
      matMulAddCase("fused_matmul_add_bias_narrow", 6, 4, true),
      // Tiles of 4 rows and 64 columns, one panel each; tiles of 2 rows and 128 columns, over
      // two panels; 16-column panels read one vector at a time.
      matMulAddCase("fused_matmul_add_panels", 6, 128, true, 64),
      matMulAddCase("fused_matmul_add_panels_two_rows", 2, 256, false, 64),
      matMulAddCase("fused_matmul_add_panels_narrow", 7, 48, true, 16),

      {"adam_update", OpKind::AdamUpdate,
       [](OpCaseBuilder& c) {
         ValueId weight = c.weight("w", {2, 3});
         ValueId gradient = c.frozen("g", {2, 3});
         ValueId m = c.state("m", {2, 3});
         ValueId v = c.state("v", {2, 3}, kProbability);
         ValueId step = c.state("step", {}, std::vector<float>{3});
         c.builder().op(
             OpKind::AdamUpdate, {weight, gradient, m, v, step},
             {{"learning_rate", 0.01}, {"beta_1", 0.9}, {"beta_2", 0.999}, {"epsilon", 1e-7}});
         return ir::kNoValue;
       }},
      // Distinct ids fill every slot, so that the whole result is specified (the repeats are in
      // kernels_test.cpp).
      {"sparse_gradient", OpKind::SparseGradient,
       [](OpCaseBuilder& c) {
         ValueId first = c.ids("ids1", {2}, {3, 0});
         ValueId second = c.ids("ids2", {1, 2}, {4, 1});
         return c.builder().op(OpKind::SparseGradient,
                               {first, c.frozen("u1", {2, 3}), second, c.frozen("u2", {1, 2, 3})},
                               {{"rows", int64_t{6}}});
       },
       false},
      adamRowsCase("adam_update_rows", false),
      adamRowsCase("adam_update_rows_lazy", true),
      sgdCase("sgd_update", false),
      sgdCase("sgd_update_nesterov", true),
      {"assign", OpKind::Assign,
       [](OpCaseBuilder& c) {
         ValueId state = c.state("s", {2, 3});
         c.builder().op(OpKind::Assign, {state, c.builder().scale(c.weight("x", {2, 3}), 2)});
         return ir::kNoValue;
       }},
  };
  return cases;
}

}  // namespace

OpCaseBuilder::OpCaseBuilder(ir::Graph& graph, uint64_t seed)
    : graph_(graph), builder_(graph, "case"), state_(seed) {}

std::vector<float> OpCaseBuilder::draw(const Shape& shape, Range range) {
  std::vector<float> values;
  while (static_cast<int64_t>(values.size()) < numElements(shape)) {
    // splitmix64: the same numbers on every standard library.
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    double unit = static_cast<double>(z >> 11) * 0x1.0p-53;
    auto value = static_cast<float>(range.low + unit * (range.high - range.low));
    if (!nearKink(value)) values.push_back(value);
  }
  return values;
}

ValueId OpCaseBuilder::weight(const std::string& name, Shape shape, Range range) {
  return weight(name, shape, draw(shape, range));
}

ValueId OpCaseBuilder::weight(const std::string& name, Shape shape, std::vector<float> values) {
  this->values[name] = Tensor::fromFloats(shape, std::move(values));
  return graph_.addWeight(name, {DType::Float32, std::move(shape)}, true);
}

ValueId OpCaseBuilder::frozen(const std::string& name, Shape shape, Range range) {
  return frozen(name, shape, draw(shape, range));
}

ValueId OpCaseBuilder::frozen(const std::string& name, Shape shape, std::vector<float> values) {
  this->values[name] = Tensor::fromFloats(shape, std::move(values));
  return graph_.addWeight(name, {DType::Float32, std::move(shape)}, false);
}

ValueId OpCaseBuilder::state(const std::string& name, Shape shape, Range range) {
  return state(name, shape, draw(shape, range));
}

ValueId OpCaseBuilder::state(const std::string& name, Shape shape, std::vector<float> values) {
  this->values[name] = Tensor::fromFloats(shape, std::move(values));
  return graph_.addState(name, {DType::Float32, std::move(shape)});
}

ValueId OpCaseBuilder::ids(const std::string& name, Shape shape, std::vector<int32_t> values) {
  inputs[name] = Tensor::fromInts(shape, std::move(values));
  return graph_.addInput(name, {DType::Int32, std::move(shape)});
}

void PrintTo(const OpCase& opCase, std::ostream* stream) { *stream << opCase.name; }

const std::vector<OpCase>& opCases() {
  static const std::vector<OpCase> cases = makeCases();
  return cases;
}

const std::vector<ir::OpKind>& allOpKinds() {
  static const std::vector<ir::OpKind> kinds = {
#define DLC_OP(kind, name, arity, sideEffects) ir::OpKind::kind,
#include "ir/ops.def"
  };
  return kinds;
}

bool checksGradients(const OpCase& opCase) {
  return opCase.gradientCheck && passes::gradientRule(opCase.kind) != nullptr;
}

BuiltCase buildCase(const OpCase& opCase, bool withGradients) {
  BuiltCase built{ir::Graph(opCase.name), {}, {}, false, {}};
  OpCaseBuilder c(built.graph, hashName(opCase.name));
  ValueId result = opCase.build(c);
  bool hasOp = std::any_of(built.graph.ops().begin(), built.graph.ops().end(),
                           [&](const ir::Op& op) { return op.kind == opCase.kind; });
  EXPECT_TRUE(hasOp) << opCase.name << " has no " << ir::opName(opCase.kind) << " op";
  for (ValueId id : built.graph.valuesOfKind(ir::ValueKind::Weight))
    if (built.graph.value(id).trainable)
      built.trainableWeights.push_back(built.graph.value(id).name);
  if (result != ir::kNoValue) built.graph.addOutput("result", result);

  bool floatResult = result != ir::kNoValue && built.graph.type(result).dtype == DType::Float32;
  if (withGradients && floatResult && passes::gradientRule(opCase.kind) != nullptr) {
    // A random projection makes every element of the result count differently in the loss.
    Shape shape = built.graph.type(result).shape;  // a copy: adding a weight moves types
    ValueId projection = c.frozen("projection", shape, kSigned);
    ir::Builder& b = c.builder();
    Shape axes(shape.size());
    std::iota(axes.begin(), axes.end(), 0);
    ValueId weighted = b.mul(result, projection);
    built.graph.addOutput("loss", axes.empty() ? weighted : b.reduceSum(weighted, axes, false));
    passes::differentiate(built.graph, {});
    built.hasGradients = true;
  }
  built.values = std::move(c.values);
  built.inputs = std::move(c.inputs);
  return built;
}

}  // namespace dlc::testing
