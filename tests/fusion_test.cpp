// The fusion passes, each checked twice: the structure (the fused op is in the graph, its pieces
// are gone, and it refuses values that are graph outputs or have other users) and the numbers
// (the graph with the pass agrees with the graph without it on the forward outputs, the loss and
// every gradient, on both executors, with repeated and padding ids in the batch).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "frontend/lowering.h"
#include "ir/builder.h"
#include "ir/printer.h"
#include "passes/pass.h"
#include "codegen/jit.h"
#include "runtime/jit_executor.h"
#include "runtime/reference_executor.h"
#include "runtime/session.h"
#include "runtime/weights.h"
#include "tests/test_support.h"

namespace dlc {
namespace {

using ir::OpKind;

constexpr int kVocabulary = 12;  // the last id is the padding value, as 50001 is for Quora
constexpr int kSteps = 4;
constexpr int64_t kBatch = 3;

/// The Quora model in miniature: shared embedding and LSTM, dot, dense with a sigmoid.
std::string miniatureQuoraModel(const char* recurrentActivation, int units = 5) {
  return fmt::format(R"({{
    "name": "miniature_quora", "inputs": ["q1", "q2"], "outputs": ["dense"],
    "layers": [
      {{ "name": "q1", "kind": "Input", "input": {{ "shape": [{1}] }} }},
      {{ "name": "q2", "kind": "Input", "input": {{ "shape": [{1}] }} }},
      {{ "name": "embedding", "kind": "Embedding", "inputs": ["q1", "q2"],
         "embedding": {{ "input_dim": {0}, "output_dim": 6 }} }},
      {{ "name": "lstm", "kind": "LSTM", "inputs": ["embedding:0", "embedding:1"],
         "lstm": {{ "units": {3}, "recurrent_activation": "{2}" }} }},
      {{ "name": "dot", "kind": "Dot", "inputs": ["lstm:0", "lstm:1"], "dot": {{ "axes": [1] }} }},
      {{ "name": "dense", "kind": "Dense", "inputs": ["dot"],
         "dense": {{ "units": 1, "activation": "Sigmoid" }} }} ],
    "training": {{ "loss": "BinaryCrossentropy", "optimizer": {{ "kind": "Adam" }} }} }})",
                     kVocabulary, kSteps, recurrentActivation, units);
}

/// Ids with repeats within and across rows and both questions, and leading padding.
TensorMap batchWithRepeatsAndPadding() {
  constexpr int32_t pad = kVocabulary - 1;
  Tensor first(DType::Int32, {kBatch, kSteps});
  Tensor second(DType::Int32, {kBatch, kSteps});
  std::vector<int32_t> ids1 = {pad, pad, 3, 3, 1, 2, 3, 4, pad, 7, 7, 7};
  std::vector<int32_t> ids2 = {pad, 3, 5, 1, pad, pad, pad, 2, 0, 7, 3, 9};
  std::copy(ids1.begin(), ids1.end(), first.data<int32_t>().begin());
  std::copy(ids2.begin(), ids2.end(), second.data<int32_t>().begin());
  Tensor labels(DType::Float32, {kBatch, 1});
  std::vector<float> values = {1, 0, 1};
  std::copy(values.begin(), values.end(), labels.data<float>().begin());
  return {{"q1", first}, {"q2", second}, {kLabelsInput, labels}};
}

/// Which passes a graph is built without, and how it is lowered. The structure tests lower the
/// two questions' calls separately, so that a table is looked up twice and each LSTM step is an
/// op per question; the default lowering stacks them (their own tests are at the end).
struct Variant {
  std::set<std::string> disabled;
  bool noFusion = false;
  bool stackSharedCalls = false;
};

ir::Graph buildGraph(const testing::ParsedModel& parsed, bool training, const Variant& variant,
                     std::ostream* log = nullptr) {
  ir::Graph graph =
      lowerModel(parsed.model, parsed.analysis, {kBatch, training, variant.stackSharedCalls});
  passes::PassOptions options;
  options.training = training;
  options.disabled = variant.disabled;
  options.noFusion = variant.noFusion;
  options.verifyEach = true;
  options.verbose = log != nullptr;
  options.log = log;
  passes::runPipeline(graph, options);
  return graph;
}

int64_t countOps(const ir::Graph& graph, OpKind kind) {
  return std::count_if(graph.ops().begin(), graph.ops().end(),
                       [&](const ir::Op& op) { return op.kind == kind; });
}

/// Products (plain or with what is added to them) whose right operand is the weight `name`.
int64_t countProductsWith(const ir::Graph& graph, const std::string& name) {
  ir::ValueId weight = graph.findNamed(name);
  return std::count_if(graph.ops().begin(), graph.ops().end(), [&](const ir::Op& op) {
    bool product = op.kind == OpKind::MatMul || op.kind == OpKind::FusedMatMulAdd;
    return product && op.operands[1] == weight;
  });
}

// Structure of each pass on the miniature model.

class FusionStructure : public ::testing::Test {
 protected:
  testing::ParsedModel parsed_ = testing::parseModelJson(miniatureQuoraModel("Sigmoid"));
};

TEST_F(FusionStructure, HoistingProjectsEachSequenceOnce) {
  ir::Graph hoisted = buildGraph(parsed_, false, {});
  ir::Graph stepwise = buildGraph(parsed_, false, {{"hoist-lstm-input-projection"}});
  EXPECT_EQ(countProductsWith(stepwise, "lstm/kernel"), 2 * kSteps);
  // One product per question (or none, where a later pass took the product into its own op).
  EXPECT_LE(countProductsWith(hoisted, "lstm/kernel"), 2);
  EXPECT_EQ(
      countProductsWith(
          buildGraph(parsed_, false, {{"hoist-lstm-input-projection", "fuse-embedding-gather"}}),
          "lstm/kernel"),
      2 * kSteps);
}

TEST_F(FusionStructure, EmbeddingLookupsFlowIntoTheProjectionAndBackIntoTheTable) {
  // Without the optimizer pass, which takes the table's gradient apart into rows for Adam.
  ir::Graph fused = buildGraph(parsed_, true, {{"optimizer"}});
  // Forward: one lookup-and-product per question. Backward: the table's gradient scattered from
  // the projection's, and the kernel's from the looked-up rows, one each per question.
  EXPECT_EQ(countOps(fused, OpKind::Gather), 0);
  EXPECT_EQ(countOps(fused, OpKind::ScatterAdd), 0);
  EXPECT_EQ(countOps(fused, OpKind::FusedMatMulScatterAdd), 2);
  int64_t forward = 0, transposed = 0;
  for (const ir::Op& op : fused.ops()) {
    if (op.kind != OpKind::FusedGatherMatMul) continue;
    (op.attributes.getInt("transpose_a", 0) ? transposed : forward) += 1;
    EXPECT_EQ(op.operands[0], fused.findNamed("embedding/embeddings"));
  }
  EXPECT_EQ(forward, 2);
  EXPECT_EQ(transposed, 2);
  // The second question's scatter starts from the first's gradient instead of zeros.
  auto accumulating = [](const ir::Graph& graph) {
    return std::count_if(graph.ops().begin(), graph.ops().end(), [](const ir::Op& op) {
      return op.kind == OpKind::FusedMatMulScatterAdd && op.operands.size() == 4;
    });
  };
  EXPECT_EQ(countOps(fused, OpKind::FusedMatMulScatterAdd), 2);
  EXPECT_EQ(accumulating(fused), 1);
  ir::Graph summed = buildGraph(parsed_, true, {{"accumulate-table-gradients", "optimizer"}});
  EXPECT_EQ(countOps(summed, OpKind::FusedMatMulScatterAdd), 2);
  EXPECT_EQ(accumulating(summed), 0);

  ir::Graph unfused = buildGraph(parsed_, true, {{"fuse-embedding-gather", "optimizer"}});
  EXPECT_EQ(countOps(unfused, OpKind::FusedGatherMatMul), 0);
  EXPECT_EQ(countOps(unfused, OpKind::Gather), 2);
  EXPECT_EQ(countOps(unfused, OpKind::ScatterAdd), 2);
}

TEST_F(FusionStructure, InferenceLooksUpRowsOfTheFoldedTableComputedWhenWeightsAreBound) {
  std::ostringstream log;
  ir::Graph folded = buildGraph(parsed_, false, {}, &log);
  EXPECT_NE(log.str().find("folded 'embedding/embeddings' through 'lstm/kernel'"),
            std::string::npos)
      << log.str();
  EXPECT_EQ(countOps(folded, OpKind::FusedGatherMatMul), 0);
  EXPECT_EQ(countOps(folded, OpKind::Gather), 2);
  // One product of the table with the kernel, shared by both questions, run at binding time.
  std::vector<bool> weightOnly = ir::weightOnlyOps(folded);
  int64_t bindingProducts = 0;
  for (size_t index = 0; index < folded.ops().size(); ++index) {
    const ir::Op& op = folded.ops()[index];
    if (op.kind != OpKind::MatMul || op.operands[0] != folded.findNamed("embedding/embeddings"))
      continue;
    EXPECT_TRUE(weightOnly[index]);
    ++bindingProducts;
  }
  EXPECT_EQ(bindingProducts, 1);

  // Training updates the weights: nothing to fold, and nothing runs at binding time.
  ir::Graph training = buildGraph(parsed_, true, {});
  EXPECT_EQ(countOps(training, OpKind::FusedGatherMatMul), 4);
  for (bool flag : ir::weightOnlyOps(training)) EXPECT_FALSE(flag);
}

TEST_F(FusionStructure, LstmCellsBecomeOneOpEachAndTheirGradientsToo) {
  ir::Graph fused = buildGraph(parsed_, true, {});
  EXPECT_EQ(countOps(fused, OpKind::FusedLstmCell), 2 * kSteps);
  EXPECT_EQ(countOps(fused, OpKind::FusedLstmCellGrad), 2 * kSteps);
  // The gates' activations are gone; only the dense layer's sigmoid could remain, and it is
  // fused with the dot.
  EXPECT_EQ(countOps(fused, OpKind::Sigmoid), 0);
  EXPECT_EQ(countOps(fused, OpKind::Tanh), 0);

  ir::Graph unfused = buildGraph(parsed_, true, {{"fuse-lstm-cell", "fuse-elementwise"}});
  EXPECT_EQ(countOps(unfused, OpKind::FusedLstmCell), 0);
  EXPECT_EQ(countOps(unfused, OpKind::Tanh), 2 * 2 * kSteps);
}

TEST_F(FusionStructure, DotAndDenseBecomeOneOp) {
  ir::Graph fused = buildGraph(parsed_, false, {});
  EXPECT_EQ(countOps(fused, OpKind::FusedDotDense), 1);
  EXPECT_EQ(countOps(fused, OpKind::ReduceSum), 0);
  ir::Graph unfused = buildGraph(parsed_, false, {{"fuse-dot-dense"}});
  EXPECT_EQ(countOps(unfused, OpKind::FusedDotDense), 0);
  EXPECT_EQ(countOps(unfused, OpKind::ReduceSum), 1);
}

TEST_F(FusionStructure, WhenTrainingTheDotDenseLayerAndItsLossBecomeOneOp) {
  ir::Graph fused = buildGraph(parsed_, true, {});
  EXPECT_EQ(countOps(fused, OpKind::FusedDotDenseLossGrad), 1);
  for (OpKind piece : {OpKind::FusedDotDense, OpKind::BinaryCrossEntropy,
                       OpKind::BinaryCrossEntropyGrad, OpKind::SigmoidGrad})
    EXPECT_EQ(countOps(fused, piece), 0) << ir::opName(piece);
  // The probabilities (which the trainer reports) and the loss are views of the fused result.
  std::vector<int32_t> producers = ir::producerIndex(fused);
  for (const char* output : {"dense", "loss"}) {
    ir::ValueId value = fused.findOutput(output);
    ASSERT_NE(value, ir::kNoValue) << output;
    const ir::Op& view = fused.ops()[producers[value]];
    ASSERT_EQ(view.kind, OpKind::Reshape) << output;
    const ir::Op& slice = fused.ops()[producers[view.operands[0]]];
    EXPECT_EQ(fused.ops()[producers[slice.operands[0]]].kind, OpKind::FusedDotDenseLossGrad);
  }

  ir::Graph unfused = buildGraph(parsed_, true, {{"fuse-dot-dense-loss"}});
  EXPECT_EQ(countOps(unfused, OpKind::FusedDotDenseLossGrad), 0);
  EXPECT_EQ(countOps(unfused, OpKind::FusedDotDense), 1);
  EXPECT_EQ(countOps(unfused, OpKind::BinaryCrossEntropy), 1);
  EXPECT_EQ(countOps(unfused, OpKind::BinaryCrossEntropyGrad), 1);
  // Without the forward fusion there is nothing to fuse the loss with.
  ir::Graph plain = buildGraph(parsed_, true, {{"fuse-dot-dense"}});
  EXPECT_EQ(countOps(plain, OpKind::FusedDotDenseLossGrad), 0);
  EXPECT_EQ(countOps(plain, OpKind::BinaryCrossEntropyGrad), 1);
}

TEST_F(FusionStructure, SliceGradientsBecomeConcatsInsteadOfPaddedSums) {
  // Per question: one concat of the steps' slices of the input projection, and one for each
  // step but the last, whose h' and c' slices both have gradients. The last step's c' is not
  // read, so its lone h' gradient stays a pad.
  ir::Graph combined = buildGraph(parsed_, true, {});
  EXPECT_EQ(countOps(combined, OpKind::Pad), 2);
  EXPECT_EQ(countOps(combined, OpKind::Concat), 2 * kSteps);
  ir::Graph padded = buildGraph(parsed_, true, {{"combine-slice-gradients"}});
  EXPECT_EQ(countOps(padded, OpKind::Concat), 0);
  EXPECT_GT(countOps(padded, OpKind::Pad), 2);
}

TEST_F(FusionStructure, ProductsTakeWhatIsAddedToThemIntoTheirKernel) {
  // Each step after the first adds its slice of the projection and the bias to the recurrent
  // product; the first has no recurrent product (the state starts at zero).
  ir::Graph inference = buildGraph(parsed_, false, {});
  EXPECT_EQ(countOps(inference, OpKind::FusedMatMulAdd), 2 * (kSteps - 1));
  EXPECT_EQ(countProductsWith(inference, "lstm/recurrent_kernel"), 2 * (kSteps - 1));
  for (const ir::Op& op : inference.ops())
    if (op.kind == OpKind::FusedMatMulAdd) EXPECT_EQ(op.operands.size(), 4u);  // with the bias

  ir::Graph training = buildGraph(parsed_, true, {});
  EXPECT_EQ(countOps(training, OpKind::FusedMatMulAdd), 2 * (kSteps - 1));
  ir::Graph unfused = buildGraph(parsed_, false, {{"fuse-matmul-add"}});
  EXPECT_EQ(countOps(unfused, OpKind::FusedMatMulAdd), 0);
}

TEST_F(FusionStructure, ElementwiseChainsBecomeOneLoopEach) {
  // Without the products taking them, each step's adds (its slice of the projection, the
  // recurrent product, the bias) become one fused op per step and question.
  ir::Graph inference = buildGraph(parsed_, false, {{"fuse-matmul-add"}});
  EXPECT_EQ(countOps(inference, OpKind::FusedElementwise), 2 * (kSteps - 1));
  for (const ir::Op& op : inference.ops())
    if (op.kind == OpKind::FusedElementwise)
      EXPECT_NE(op.origin.find("(add+add)"), std::string::npos);

  ir::Graph unfused = buildGraph(parsed_, false, {{"fuse-matmul-add", "fuse-elementwise"}});
  EXPECT_EQ(countOps(unfused, OpKind::FusedElementwise), 0);
  EXPECT_EQ(countOps(unfused, OpKind::Add), 2 * (2 * kSteps - 1));

  // In training the backward's sums are chains too.
  ir::Graph training = buildGraph(parsed_, true, {{"fuse-matmul-add"}});
  EXPECT_GT(countOps(training, OpKind::FusedElementwise), 2 * (kSteps - 1));
}

TEST_F(FusionStructure, NoFusionRunsNoneOfThem) {
  ir::Graph graph = buildGraph(parsed_, true, {{}, true});
  for (const ir::Op& op : graph.ops())
    EXPECT_EQ(ir::opName(op.kind).find("fused"), std::string_view::npos) << ir::opName(op.kind);
  EXPECT_EQ(countProductsWith(buildGraph(parsed_, false, {{}, true}), "lstm/kernel"), 2 * kSteps);
}

TEST_F(FusionStructure, TheIrDumpNamesEveryFusion) {
  std::string text = ir::printGraph(buildGraph(parsed_, true, {{"optimizer"}}));
  for (const char* name :
       {"fused_gather_matmul(", "fused_matmul_scatter_add(", "fused_lstm_cell(",
        "fused_lstm_cell_grad(", "fused_dot_dense_loss_grad(", "fused_matmul_add(",
        "fused_elementwise("})
    EXPECT_NE(text.find(name), std::string::npos) << name;
}

// Refusals, on small graphs built by hand.

/// Runs one pass (and nothing else) at -v; returns what it logged.
std::string runPassVerbosely(ir::Graph& graph, bool (*pass)(ir::Graph&, const passes::PassOptions&),
                             bool* changed = nullptr) {
  std::ostringstream log;
  passes::PassOptions options;
  options.verbose = true;
  options.log = &log;
  bool result = pass(graph, options);
  if (changed) *changed = result;
  return log.str();
}

/// A pass fuses the graph `make(false)` into one `fused` op, and leaves `make(true)`, where a piece
/// of the fusion is also a graph output, saying why at -v.
void expectRefusalOfAnExposedPiece(ir::Graph (*make)(bool),
                                   bool (*pass)(ir::Graph&, const passes::PassOptions&),
                                   OpKind fused, OpKind piece) {
  ir::Graph fusable = make(false);
  bool changed = false;
  runPassVerbosely(fusable, pass, &changed);
  EXPECT_TRUE(changed);
  EXPECT_EQ(countOps(fusable, fused), 1);
  EXPECT_EQ(countOps(fusable, piece), 0);

  ir::Graph exposed = make(true);
  std::string log = runPassVerbosely(exposed, pass, &changed);
  EXPECT_FALSE(changed);
  EXPECT_EQ(countOps(exposed, fused), 0);
  EXPECT_NE(log.find("is a graph output"), std::string::npos) << log;
}

/// act(reduce_sum(a · b) · kernel + bias); `exposeDot` makes the dot a graph output as well.
ir::Graph dotDenseGraph(bool exposeDot) {
  ir::Graph graph("dot_dense");
  ir::ValueId a = graph.addInput("a", {DType::Float32, {2, 3}});
  ir::ValueId b = graph.addInput("b", {DType::Float32, {2, 3}});
  ir::ValueId kernel = graph.addWeight("kernel", {DType::Float32, {1, 1}}, true);
  ir::ValueId bias = graph.addWeight("bias", {DType::Float32, {1}}, true);
  ir::Builder builder(graph, "dense");
  ir::ValueId dot = builder.reduceSum(builder.mul(a, b), {1}, true);
  ir::ValueId dense =
      builder.unary(OpKind::Sigmoid, builder.add(builder.matmul(dot, kernel), bias));
  graph.addOutput("dense", dense);
  if (exposeDot) graph.addOutput("dot", dot);
  return graph;
}

TEST(FusionRefusals, DotDenseLeavesADotThatIsAlsoAnOutput) {
  expectRefusalOfAnExposedPiece(dotDenseGraph, passes::fuseDotDense, OpKind::FusedDotDense,
                                OpKind::ReduceSum);
}

/// The training graph of act(reduce_sum(a · b) · kernel + bias) and its binary cross-entropy,
/// after autodiff; `exposeGradient` makes the loss's gradient a graph output as well.
ir::Graph dotDenseLossGraph(bool exposeGradient, ir::Activation activation) {
  ir::Graph graph("dot_dense_loss");
  ir::ValueId a = graph.addWeight("a", {DType::Float32, {2, 3}}, true);
  ir::ValueId b = graph.addWeight("b", {DType::Float32, {2, 3}}, true);
  ir::ValueId kernel = graph.addWeight("kernel", {DType::Float32, {1, 1}}, true);
  ir::ValueId bias = graph.addWeight("bias", {DType::Float32, {1}}, true);
  ir::ValueId labels = graph.addInput("labels", {DType::Float32, {2, 1}});
  ir::Builder builder(graph, "dense");
  ir::ValueId probabilities = builder.op(OpKind::FusedDotDense, {a, b, kernel, bias},
                                         {{"activation", static_cast<int64_t>(activation)}});
  graph.addOutput("dense", probabilities);
  graph.addOutput("loss", builder.op(OpKind::BinaryCrossEntropy, {probabilities, labels}));
  passes::differentiate(graph, {});
  if (exposeGradient)
    for (const ir::Op& op : std::vector<ir::Op>(graph.ops()))
      if (op.kind == OpKind::BinaryCrossEntropyGrad) graph.addOutput("dp", op.result);
  return graph;
}

ir::Graph sigmoidDotDenseLossGraph(bool exposeGradient) {
  return dotDenseLossGraph(exposeGradient, ir::Activation::Sigmoid);
}

TEST(FusionRefusals, DotDenseLossLeavesALossGradientThatIsAlsoAnOutput) {
  expectRefusalOfAnExposedPiece(sigmoidDotDenseLossGraph, passes::fuseDotDenseLoss,
                                OpKind::FusedDotDenseLossGrad, OpKind::BinaryCrossEntropyGrad);
}

TEST(FusionRefusals, DotDenseLossNeedsAnActivationWhoseGradientReadsItsOutput) {
  ir::Graph graph = dotDenseLossGraph(false, ir::Activation::Relu);
  bool changed = true;
  std::string log = runPassVerbosely(graph, passes::fuseDotDenseLoss, &changed);
  EXPECT_FALSE(changed);
  EXPECT_EQ(countOps(graph, OpKind::BinaryCrossEntropyGrad), 1);
  EXPECT_NE(log.find("gradient reads the pre-activation"), std::string::npos) << log;
}

/// One LSTM step from its gate pre-activations; `exposeGate` also outputs the input gate.
ir::Graph lstmStepGraph(bool exposeGate) {
  constexpr int64_t units = 3;
  ir::Graph graph("lstm_step");
  ir::ValueId z = graph.addInput("z", {DType::Float32, {2, 4 * units}});
  ir::ValueId c = graph.addInput("c", {DType::Float32, {2, units}});
  ir::Builder builder(graph, "lstm");
  auto gate = [&](int64_t quarter, OpKind activation) {
    return builder.unary(activation, builder.slice(z, 1, quarter * units, (quarter + 1) * units));
  };
  ir::ValueId input = gate(0, OpKind::Sigmoid);
  ir::ValueId forget = gate(1, OpKind::Sigmoid);
  ir::ValueId candidate = gate(2, OpKind::Tanh);
  ir::ValueId output = gate(3, OpKind::Sigmoid);
  ir::ValueId next = builder.add(builder.mul(forget, c), builder.mul(input, candidate));
  ir::ValueId hidden = builder.mul(output, builder.unary(OpKind::Tanh, next));
  graph.addOutput("h", hidden);
  graph.addOutput("c", next);
  if (exposeGate) graph.addOutput("input_gate", input);
  return graph;
}

TEST(FusionRefusals, LstmCellLeavesAGateThatIsAlsoAnOutput) {
  expectRefusalOfAnExposedPiece(lstmStepGraph, passes::fuseLstmCell, OpKind::FusedLstmCell,
                                OpKind::Sigmoid);
}

/// An embedding lookup read by a product; `exposeRows` also outputs the looked-up rows.
ir::Graph lookupGraph(bool exposeRows) {
  ir::Graph graph("lookup");
  ir::ValueId table = graph.addWeight("table", {DType::Float32, {5, 3}}, true);
  ir::ValueId ids = graph.addInput("ids", {DType::Int32, {2, 4}});
  ir::ValueId kernel = graph.addWeight("kernel", {DType::Float32, {3, 8}}, true);
  ir::Builder builder(graph, "embedding");
  ir::ValueId rows = builder.op(OpKind::Gather, {table, ids});
  graph.addOutput("projected", builder.matmul(builder.reshape(rows, {8, 3}), kernel));
  if (exposeRows) graph.addOutput("rows", rows);
  return graph;
}

TEST(FusionRefusals, EmbeddingGatherLeavesRowsThatAreAlsoAnOutput) {
  expectRefusalOfAnExposedPiece(lookupGraph, passes::fuseEmbeddingGather, OpKind::FusedGatherMatMul,
                                OpKind::Gather);
}

// Rows looked up, then flattened per sample (Embedding -> Flatten -> Dense): the product's rows
// are samples, not the table's rows, so there is nothing to fuse.
TEST(FusionRefusals, EmbeddingGatherLeavesRowsFlattenedAcrossRows) {
  ir::Graph graph("flattened_lookup");
  ir::ValueId table = graph.addWeight("table", {DType::Float32, {5, 3}}, true);
  ir::ValueId ids = graph.addInput("ids", {DType::Int32, {2, 4}});
  ir::ValueId kernel = graph.addWeight("kernel", {DType::Float32, {12, 1}}, true);
  ir::Builder builder(graph, "embedding");
  ir::ValueId rows = builder.op(OpKind::Gather, {table, ids});
  graph.addOutput("projected", builder.matmul(builder.reshape(rows, {2, 12}), kernel));

  bool changed = true;
  std::string log = runPassVerbosely(graph, passes::fuseEmbeddingGather, &changed);
  EXPECT_FALSE(changed);
  EXPECT_EQ(countOps(graph, OpKind::FusedGatherMatMul), 0);
  EXPECT_NE(log.find("reshaped across rows"), std::string::npos) << log;
}

/// A lookup of `ids` ids in a table of `rows` rows through a product, at inference.
ir::Graph fusedLookupGraph(int64_t rows, int64_t ids) {
  ir::Graph graph("lookup");
  ir::ValueId table = graph.addWeight("table", {DType::Float32, {rows, 4}}, false);
  ir::ValueId input = graph.addInput("ids", {DType::Int32, {ids}});
  ir::ValueId kernel = graph.addWeight("kernel", {DType::Float32, {4, 16}}, false);
  ir::Builder builder(graph, "embedding");
  graph.addOutput("projected", builder.op(OpKind::FusedGatherMatMul, {table, input, kernel}));
  return graph;
}

TEST(FusionRefusals, FoldingWaitsForTheFoldedTableToPayBack) {
  ir::Graph cheap = fusedLookupGraph(100, 20);
  bool changed = false;
  std::string log = runPassVerbosely(cheap, passes::foldEmbeddingProjection, &changed);
  EXPECT_TRUE(changed) << log;
  EXPECT_NE(log.find("paid back after 5 runs"), std::string::npos) << log;

  // A million rows for one id per run: the product at binding pays back after 10^6 runs.
  ir::Graph costly = fusedLookupGraph(1000000, 1);
  log = runPassVerbosely(costly, passes::foldEmbeddingProjection, &changed);
  EXPECT_FALSE(changed);
  EXPECT_EQ(countOps(costly, OpKind::FusedGatherMatMul), 1);
  EXPECT_NE(log.find("not folded"), std::string::npos) << log;
}

/// tanh(a · b + c) with the product also a graph output when `exposeProduct`.
ir::Graph elementwiseChainGraph(bool exposeProduct) {
  ir::Graph graph("chain");
  ir::ValueId a = graph.addInput("a", {DType::Float32, {2, 3}});
  ir::ValueId b = graph.addInput("b", {DType::Float32, {2, 3}});
  ir::ValueId c = graph.addInput("c", {DType::Float32, {3}});
  ir::Builder builder(graph, "chain");
  ir::ValueId product = builder.mul(a, b);
  graph.addOutput("result", builder.unary(OpKind::Tanh, builder.add(product, c)));
  if (exposeProduct) graph.addOutput("product", product);
  return graph;
}

TEST(FusionRefusals, ElementwiseFusionLeavesAValueThatIsAlsoAnOutput) {
  ir::Graph fusable = elementwiseChainGraph(false);
  runPassVerbosely(fusable, passes::fuseElementwise);
  ASSERT_EQ(fusable.ops().size(), 1u);
  EXPECT_EQ(fusable.ops()[0].kind, OpKind::FusedElementwise);
  EXPECT_EQ(fusable.ops()[0].operands.size(), 3u);  // the bias broadcasts

  ir::Graph exposed = elementwiseChainGraph(true);
  std::string log = runPassVerbosely(exposed, passes::fuseElementwise);
  EXPECT_EQ(countOps(exposed, OpKind::Mul), 1);
  EXPECT_EQ(countOps(exposed, OpKind::FusedElementwise), 1);  // add and tanh only
  EXPECT_NE(log.find("not fused"), std::string::npos) << log;
}

// Numbers: each pass on against off, on both executors.

float maxAbsDifference(const Tensor& a, const Tensor& b) {
  auto x = a.data<float>();
  auto y = b.data<float>();
  float largest = 0;
  for (size_t i = 0; i < x.size(); ++i) largest = std::max(largest, std::abs(x[i] - y[i]));
  return largest;
}

float maxAbs(const Tensor& tensor) {
  float largest = 0;
  for (float value : tensor.data<float>()) largest = std::max(largest, std::abs(value));
  return largest;
}

/// The probabilities, the loss and every gradient of one training step, weights untouched.
TensorMap lossAndGradients(const testing::ParsedModel& parsed, ExecutorKind executor,
                           const Variant& variant) {
  SessionOptions options;
  options.batchSize = kBatch;
  options.training = true;
  options.keepGradients = true;
  options.withOptimizer = false;
  options.executor = executor;
  options.passes.disabled = variant.disabled;
  options.passes.noFusion = variant.noFusion;
  options.stackSharedCalls = variant.stackSharedCalls;
  Session session(parsed.model, parsed.analysis, options);
  session.setWeights(initializeWeights(parsed.analysis, 5));
  return session.run(batchWithRepeatsAndPadding());
}

/// (recurrent activation, executor, the fusion pass turned off or "all" for --no-fusion, whether
/// shared calls are stacked)
using NumbersCase = std::tuple<const char*, ExecutorKind, const char*, bool>;

class FusionNumbers : public ::testing::TestWithParam<NumbersCase> {};

TEST_P(FusionNumbers, FusedAndUnfusedAgreeOnOutputsLossAndGradients) {
  auto [recurrentActivation, executor, pass, stacked] = GetParam();
  testing::ParsedModel parsed = testing::parseModelJson(miniatureQuoraModel(recurrentActivation));
  Variant without = std::string(pass) == "all" ? Variant{{}, true, stacked}
                                               : Variant{{pass}, false, stacked};
  TensorMap fused = lossAndGradients(parsed, executor, {{}, false, stacked});
  TensorMap unfused = lossAndGradients(parsed, executor, without);

  ASSERT_EQ(fused.size(), unfused.size());
  for (const auto& [name, expected] : unfused) {
    ASSERT_TRUE(fused.count(name)) << name;
    EXPECT_LE(maxAbsDifference(fused.at(name), expected), 2e-6f + 1e-4f * maxAbs(expected))
        << name << " differs with and without " << pass;
  }

  // The comparison means something only if the gradients do: the embedding's rows of ids in
  // the batch (the padding id among them) are nonzero, the others zero.
  auto table = fused.at("grad/embedding/embeddings").data<float>();
  auto rowNorm = [&](int row) {
    float sum = 0;
    for (int j = 0; j < 6; ++j) sum += std::abs(table[row * 6 + j]);
    return sum;
  };
  for (int id : {0, 1, 3, 7, kVocabulary - 1}) EXPECT_GT(rowNorm(id), 0.0f) << "row " << id;
  for (int id : {6, 8, 10}) EXPECT_EQ(rowNorm(id), 0.0f) << "row " << id;
  EXPECT_GT(maxAbs(fused.at("grad/lstm/kernel")), 0.0f);
}

/// The losses of `steps` training steps with Adam from the same weights, and the weights left.
std::pair<std::vector<float>, TensorMap> trainingSteps(const testing::ParsedModel& parsed,
                                                       ExecutorKind executor,
                                                       const Variant& variant, int steps) {
  SessionOptions options;
  options.batchSize = kBatch;
  options.training = true;
  options.executor = executor;
  options.passes.disabled = variant.disabled;
  Session session(parsed.model, parsed.analysis, options);
  session.setWeights(initializeWeights(parsed.analysis, 5));
  std::vector<float> losses;
  for (int step = 0; step < steps; ++step)
    losses.push_back(session.run(batchWithRepeatsAndPadding()).at("loss").data<float>()[0]);
  return {losses, session.weights()};
}

class DotDenseLossSteps : public ::testing::TestWithParam<ExecutorKind> {};

TEST_P(DotDenseLossSteps, FusedAndUnfusedTrainAlike) {
  testing::ParsedModel parsed = testing::parseModelJson(miniatureQuoraModel("Sigmoid"));
  auto [fusedLosses, fusedWeights] = trainingSteps(parsed, GetParam(), {}, 4);
  auto [losses, weights] = trainingSteps(parsed, GetParam(), {{"fuse-dot-dense-loss"}}, 4);
  for (size_t step = 0; step < losses.size(); ++step)
    EXPECT_NEAR(fusedLosses[step], losses[step], 1e-5f * std::abs(losses[step])) << step;
  EXPECT_NE(losses.front(), losses.back());  // the steps did train
  for (const auto& [name, expected] : weights)
    EXPECT_LE(maxAbsDifference(fusedWeights.at(name), expected), 1e-5f) << name;
}

INSTANTIATE_TEST_SUITE_P(BothExecutors, DotDenseLossSteps,
                         ::testing::Values(ExecutorKind::Reference, ExecutorKind::Jit),
                         [](const auto& info) {
                           return info.param == ExecutorKind::Jit ? "jit" : "reference";
                         });

/// An embedding table from `seed`, scaled up so that the probabilities depend on it clearly (the
/// dot of two small LSTM states is near 0 whatever the ids).
Tensor embeddingTable(const testing::ParsedModel& parsed, uint64_t seed) {
  Tensor table = initializeWeights(parsed.analysis, seed).at("embedding/embeddings");
  for (float& value : table.data<float>()) value *= 40;
  return table;
}

/// The probabilities of an inference session, before and after its embedding changes.
std::pair<Tensor, Tensor> probabilitiesBeforeAndAfterNewWeights(const testing::ParsedModel& parsed,
                                                                ExecutorKind executor,
                                                                const Variant& variant) {
  SessionOptions options;
  options.batchSize = kBatch;
  options.executor = executor;
  options.passes.disabled = variant.disabled;
  Session session(parsed.model, parsed.analysis, options);
  TensorMap inputs = batchWithRepeatsAndPadding();
  inputs.erase(kLabelsInput);
  TensorMap weights = initializeWeights(parsed.analysis, 5);
  weights["embedding/embeddings"] = embeddingTable(parsed, 5);
  session.setWeights(weights);
  Tensor before = session.run(inputs).at("dense");
  session.run(inputs);
  // Only the embedding changes: the folded table must follow it.
  session.setWeights({{"embedding/embeddings", embeddingTable(parsed, 6)}});
  return {before, session.run(inputs).at("dense")};
}

/// (recurrent activation, executor)
class FoldedInference : public ::testing::TestWithParam<std::tuple<const char*, ExecutorKind>> {};

TEST_P(FoldedInference, AgreesWithTheProductAndFollowsNewWeights) {
  auto [recurrentActivation, executor] = GetParam();
  testing::ParsedModel parsed = testing::parseModelJson(miniatureQuoraModel(recurrentActivation));
  auto [foldedBefore, foldedAfter] = probabilitiesBeforeAndAfterNewWeights(parsed, executor, {});
  auto [plainBefore, plainAfter] =
      probabilitiesBeforeAndAfterNewWeights(parsed, executor, {{"fold-embedding-projection"}});
  EXPECT_LE(maxAbsDifference(foldedBefore, plainBefore), 1e-5f);
  EXPECT_LE(maxAbsDifference(foldedAfter, plainAfter), 1e-5f);
  EXPECT_GT(maxAbsDifference(plainBefore, plainAfter), 1e-2f);  // the new weights matter
}

INSTANTIATE_TEST_SUITE_P(BothExecutors, FoldedInference,
                         ::testing::Combine(::testing::Values("Sigmoid", "HardSigmoid"),
                                            ::testing::Values(ExecutorKind::Reference,
                                                              ExecutorKind::Jit)));

// Weights in column panels. 32 units make a recurrent kernel of 128 columns, two panels.

TEST(WeightPanels, TheRecurrentProductsReadTheRecurrentKernelInPanels) {
  testing::ParsedModel parsed = testing::parseModelJson(miniatureQuoraModel("Sigmoid", 32));
  for (bool training : {false, true}) {
    ir::Graph graph = buildGraph(parsed, training, {});
    ir::ValueId kernel = graph.findNamed("lstm/recurrent_kernel");
    std::vector<int32_t> producers = ir::producerIndex(graph);
    int64_t packedProducts = 0;
    for (const ir::Op& op : graph.ops()) {
      if (op.kind != OpKind::FusedMatMulAdd) continue;
      const ir::Op& panels = graph.ops()[producers[op.operands[1]]];
      ASSERT_EQ(panels.kind, OpKind::Transpose);
      EXPECT_EQ(graph.type(op.operands[1]).shape, (Shape{2, 32, 64}));
      EXPECT_EQ(graph.ops()[producers[panels.operands[0]]].operands[0], kernel);
      ++packedProducts;
    }
    EXPECT_EQ(packedProducts, 2 * (kSteps - 1)) << (training ? "training" : "inference");
  }
  // Five units make 20 columns: no whole panel, nothing to pack.
  ir::Graph narrow = buildGraph(testing::parseModelJson(miniatureQuoraModel("Sigmoid")), false, {});
  EXPECT_EQ(countProductsWith(narrow, "lstm/recurrent_kernel"), 2 * (kSteps - 1));
}

class WeightPanelNumbers : public ::testing::TestWithParam<ExecutorKind> {};

TEST_P(WeightPanelNumbers, AgreeWithTheKernelsOwnLayoutInTrainingAndInference) {
  testing::ParsedModel parsed = testing::parseModelJson(miniatureQuoraModel("Sigmoid", 32));
  TensorMap packed = lossAndGradients(parsed, GetParam(), {});
  TensorMap plain = lossAndGradients(parsed, GetParam(), {{"pack-weight-panels"}});
  ASSERT_EQ(packed.size(), plain.size());
  for (const auto& [name, expected] : plain)
    EXPECT_LE(maxAbsDifference(packed.at(name), expected), 1e-6f + 1e-5f * maxAbs(expected))
        << name;
  EXPECT_GT(maxAbs(plain.at("grad/lstm/recurrent_kernel")), 0.0f);

  auto [packedBefore, packedAfter] = probabilitiesBeforeAndAfterNewWeights(parsed, GetParam(), {});
  auto [plainBefore, plainAfter] =
      probabilitiesBeforeAndAfterNewWeights(parsed, GetParam(), {{"pack-weight-panels"}});
  EXPECT_LE(maxAbsDifference(packedBefore, plainBefore), 1e-6f);
  EXPECT_LE(maxAbsDifference(packedAfter, plainAfter), 1e-6f);
}

INSTANTIATE_TEST_SUITE_P(BothExecutors, WeightPanelNumbers,
                         ::testing::Values(ExecutorKind::Reference, ExecutorKind::Jit));

std::string numbersCaseName(const ::testing::TestParamInfo<NumbersCase>& info) {
  auto [activation, executor, pass, stacked] = info.param;
  std::string name = fmt::format("{}_{}_without_{}{}", activation,
                                 executor == ExecutorKind::Jit ? "jit" : "reference", pass,
                                 stacked ? "_stacked" : "");
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

/// sin(step · i) at each flat index i: values of both signs that no two tensors share.
Tensor sines(Shape shape, float step) {
  Tensor tensor(DType::Float32, std::move(shape));
  auto data = tensor.data<float>();
  for (size_t i = 0; i < data.size(); ++i) data[i] = std::sin(step * float(i));
  return tensor;
}

// The JIT's fused lookups work a tile of rows at a time (32 rows of 512 floats): 100 ids make
// three full tiles and a partial one, which must agree with the reference's whole products.
TEST(FusedLookupKernels, EveryTileAgreesWithTheReference) {
  constexpr int64_t rows = 50, width = 512, columns = 7, count = 100;
  ir::Graph graph("lookups");
  ir::ValueId table = graph.addWeight("table", {DType::Float32, {rows, width}}, true);
  ir::ValueId kernel = graph.addWeight("kernel", {DType::Float32, {width, columns}}, true);
  ir::ValueId ids = graph.addInput("ids", {DType::Int32, {5, count / 5}});
  ir::ValueId dy = graph.addInput("dy", {DType::Float32, {count, columns}});
  ir::Builder builder(graph, "lookups");
  graph.addOutput("projected", builder.op(OpKind::FusedGatherMatMul, {table, ids, kernel}));
  graph.addOutput("kernel_gradient", builder.op(OpKind::FusedGatherMatMul, {table, ids, dy},
                                                {{"transpose_a", int64_t{1}}}));
  ir::ValueId tableGradient =
      builder.op(OpKind::FusedMatMulScatterAdd, {ids, dy, kernel}, {{"rows", rows}});
  graph.addOutput("table_gradient", tableGradient);
  graph.addOutput("accumulated", builder.op(OpKind::FusedMatMulScatterAdd,
                                            {ids, dy, kernel, tableGradient}, {{"rows", rows}}));

  Tensor idValues(DType::Int32, {5, count / 5});
  auto idData = idValues.data<int32_t>();
  for (int64_t i = 0; i < count; ++i) idData[i] = i % 3 == 0 ? rows - 1 : (i * 7) % 13;
  TensorMap inputs = {{"ids", idValues}, {"dy", sines({count, columns}, 0.37f)}};

  JitExecutor jit(graph);
  ReferenceExecutor<float> reference(graph);
  for (Executor* executor : std::initializer_list<Executor*>{&jit, &reference}) {
    executor->setTensor("table", sines({rows, width}, 0.011f));
    executor->setTensor("kernel", sines({width, columns}, 0.023f));
  }
  TensorMap fromJit = jit.run(inputs);
  TensorMap expected = reference.run(inputs);
  for (const auto& [name, tensor] : expected) {
    EXPECT_GT(maxAbs(tensor), 0.0f) << name;
    EXPECT_LE(maxAbsDifference(fromJit.at(name), tensor), 1e-4f * maxAbs(tensor)) << name;
  }
}

// A lookup of many ids read by a generated product goes in panels of 128 gathered rows on the
// stack, shared out over the threads: 300 ids make two panels and a part one, whose products
// must agree with the reference on one thread and on two.
TEST(FusedLookupKernels, PanelsOfGatheredRowsAgreeWithTheReferenceOnOneAndTwoThreads) {
  constexpr int64_t rows = 90, width = 40, columns = 64, count = 300;
  ir::Graph graph("panels");
  ir::ValueId table = graph.addWeight("table", {DType::Float32, {rows, width}}, true);
  ir::ValueId kernel = graph.addWeight("kernel", {DType::Float32, {width, columns}}, true);
  ir::ValueId ids = graph.addInput("ids", {DType::Int32, {count / 3, 3}});
  ir::Builder builder(graph, "panels");
  graph.addOutput("projected", builder.op(OpKind::FusedGatherMatMul, {table, ids, kernel}));

  Tensor idValues(DType::Int32, {count / 3, 3});
  auto idData = idValues.data<int32_t>();
  for (int64_t i = 0; i < count; ++i) idData[i] = static_cast<int32_t>((i * 37 + i / 7) % rows);
  TensorMap inputs = {{"ids", idValues}};

  ReferenceExecutor<float> reference(graph);
  reference.setTensor("table", sines({rows, width}, 0.013f));
  reference.setTensor("kernel", sines({width, columns}, 0.029f));
  Tensor expected = reference.run(inputs).at("projected");
  ASSERT_GT(maxAbs(expected), 0.0f);
  for (int threads : {1, 2}) {
    codegen::setThreadCount(threads);
    JitExecutor jit(graph);
    jit.setTensor("table", sines({rows, width}, 0.013f));
    jit.setTensor("kernel", sines({width, columns}, 0.029f));
    EXPECT_LE(maxAbsDifference(jit.run(inputs).at("projected"), expected),
              1e-5f * maxAbs(expected))
        << threads << " threads";
  }
  codegen::setThreadCount(1);
}

INSTANTIATE_TEST_SUITE_P(
    EachPass, FusionNumbers,
    ::testing::Combine(::testing::Values("Sigmoid", "HardSigmoid"),
                       ::testing::Values(ExecutorKind::Reference, ExecutorKind::Jit),
                       ::testing::Values("hoist-lstm-input-projection", "fuse-embedding-gather",
                                         "fuse-lstm-cell", "fuse-dot-dense", "fuse-dot-dense-loss",
                                         "combine-slice-gradients", "accumulate-table-gradients",
                                         "fuse-matmul-add", "fuse-elementwise", "all"),
                       ::testing::Bool()),
    numbersCaseName);

// A shared layer's calls stacked along the batch: one lookup of both questions' ids, one LSTM
// of twice the rows, and the same numbers as separate calls.

TEST(StackedSharedCalls, RunEachSharedLayerOnce) {
  testing::ParsedModel parsed = testing::parseModelJson(miniatureQuoraModel("Sigmoid"));
  ir::Graph inference = buildGraph(parsed, false, {{}, false, true});
  EXPECT_EQ(countOps(inference, OpKind::Gather), 1);
  EXPECT_EQ(countOps(inference, OpKind::FusedLstmCell), kSteps);
  int64_t stackedIds = std::count_if(
      inference.ops().begin(), inference.ops().end(), [&](const ir::Op& op) {
        return op.kind == OpKind::Concat && inference.type(op.result).dtype == DType::Int32 &&
               inference.type(op.result).shape == Shape{2 * kBatch, kSteps};
      });
  EXPECT_EQ(stackedIds, 1);

  ir::Graph training = buildGraph(parsed, true, {{"optimizer"}, false, true});
  EXPECT_EQ(countOps(training, OpKind::FusedLstmCell), kSteps);
  EXPECT_EQ(countOps(training, OpKind::FusedLstmCellGrad), kSteps);
  EXPECT_EQ(countOps(training, OpKind::FusedMatMulScatterAdd), 1);
}

class StackedSharedCallNumbers : public ::testing::TestWithParam<ExecutorKind> {};

TEST_P(StackedSharedCallNumbers, AgreeWithSeparateCallsOnOutputsLossAndGradients) {
  testing::ParsedModel parsed = testing::parseModelJson(miniatureQuoraModel("Sigmoid"));
  TensorMap stacked = lossAndGradients(parsed, GetParam(), {{}, false, true});
  TensorMap separate = lossAndGradients(parsed, GetParam(), {{}, false, false});
  ASSERT_EQ(stacked.size(), separate.size());
  for (const auto& [name, expected] : separate) {
    ASSERT_TRUE(stacked.count(name)) << name;
    EXPECT_GT(maxAbs(expected), 0.0f) << name;
    EXPECT_LE(maxAbsDifference(stacked.at(name), expected), 2e-6f + 1e-5f * maxAbs(expected))
        << name;
  }
}

INSTANTIATE_TEST_SUITE_P(BothExecutors, StackedSharedCallNumbers,
                         ::testing::Values(ExecutorKind::Reference, ExecutorKind::Jit));

}  // namespace
}  // namespace dlc
