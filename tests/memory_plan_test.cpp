// The memory plan: its verifier refuses plans where buffers live at the same time share bytes,
// and the plan of the example's training step passes it, shares bytes, and holds up against a
// check of every pair of buffers written independently of the verifier.
#include "codegen/memory_plan.h"

#include <gtest/gtest.h>

#include <limits>

#include "frontend/lowering.h"
#include "ir/builder.h"
#include "passes/pass.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace dlc {
namespace {

/// x -> a = tanh(x), b = exp(x) -> a + b: a and b are live together.
struct TwoLiveBuffers {
  ir::Graph graph;
  ir::ValueId a, b;

  TwoLiveBuffers() {
    ir::ValueId x = graph.addWeight("x", {DType::Float32, {64}}, false);
    ir::Builder builder(graph, "test");
    a = builder.unary(ir::OpKind::Tanh, x);
    b = builder.unary(ir::OpKind::Exp, x);
    graph.addOutput("sum", builder.add(a, b));
  }
};

std::string verifierError(const ir::Graph& graph, const codegen::MemoryPlan& plan) {
  try {
    codegen::verifyMemoryPlan(graph, plan);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(MemoryPlan, TheVerifierRefusesLiveBuffersThatOverlap) {
  TwoLiveBuffers example;
  codegen::MemoryPlan plan = codegen::planMemory(example.graph);
  EXPECT_EQ(verifierError(example.graph, plan), "");

  codegen::MemoryPlan same = plan;
  same.offsets[example.b] = same.offsets[example.a];
  EXPECT_NE(verifierError(example.graph, same).find("live together but share bytes"),
            std::string::npos);

  // Overlapping by one 64-byte line of a's 256 bytes.
  codegen::MemoryPlan partly = plan;
  partly.offsets[example.b] = partly.offsets[example.a] + 192;
  partly.arenaBytes = std::max(partly.arenaBytes, partly.offsets[example.b] + 256);
  EXPECT_NE(verifierError(example.graph, partly).find("live together but share bytes"),
            std::string::npos);

  codegen::MemoryPlan outside = plan;
  outside.offsets[example.b] = plan.arenaBytes;
  EXPECT_NE(verifierError(example.graph, outside).find("outside the arena"), std::string::npos);

  codegen::MemoryPlan misaligned = plan;
  misaligned.offsets[example.b] += 4;
  misaligned.arenaBytes += 64;
  EXPECT_NE(verifierError(example.graph, misaligned).find("misaligned"), std::string::npos);
}

TEST(MemoryPlan, BuffersWhoseLivesDoNotOverlapMayShare) {
  // x -> a -> b -> c: a is dead once b is computed, so c may take a's bytes. x is an input:
  // results of ops on weights alone are kept for the whole run and never share.
  ir::Graph graph;
  ir::ValueId x = graph.addInput("x", {DType::Float32, {64}});
  ir::Builder builder(graph, "test");
  ir::ValueId a = builder.unary(ir::OpKind::Tanh, x);
  ir::ValueId b = builder.unary(ir::OpKind::Exp, a);
  ir::ValueId c = builder.unary(ir::OpKind::Tanh, b);
  graph.addOutput("c", c);

  codegen::MemoryPlan plan = codegen::planMemory(graph);
  EXPECT_EQ(plan.offsets[c], plan.offsets[a]);
  EXPECT_NE(plan.offsets[b], plan.offsets[a]);
  EXPECT_EQ(verifierError(graph, plan), "");
  EXPECT_LT(plan.arenaBytes, codegen::planMemory(graph, false).arenaBytes);
}

/// First and last op index at which each result is live, computed here from scratch.
std::pair<std::vector<int>, std::vector<int>> lifetimesOf(const ir::Graph& graph) {
  std::vector<int> first(graph.valueCount(), -1), last(graph.valueCount(), -1);
  for (int index = 0; index < static_cast<int>(graph.ops().size()); ++index) {
    const ir::Op& op = graph.ops()[index];
    for (ir::ValueId operand : op.operands) last[operand] = index;
    if (op.result != ir::kNoValue) first[op.result] = last[op.result] = index;
  }
  for (const ir::GraphOutput& output : graph.outputs())
    last[output.value] = std::numeric_limits<int>::max();
  return {first, last};
}

TEST(MemoryPlan, ThePlanOfTheExampleTrainingStepIsSound) {
  testing::ParsedModel parsed = testing::parseModelJson(
      testing::readText(testing::sourcePath("examples/quora_siamese/model.json")));
  ir::Graph graph = lowerModel(parsed.model, parsed.analysis, {64, true});
  passes::PassOptions options;
  options.training = true;
  options.optimizer = *parsed.model.training->optimizer;
  passes::runPipeline(graph, options);

  codegen::MemoryPlan plan = codegen::planMemory(graph);
  EXPECT_EQ(verifierError(graph, plan), "");
  codegen::MemoryPlan unshared = codegen::planMemory(graph, false);
  EXPECT_EQ(verifierError(graph, unshared), "");
  EXPECT_LT(plan.arenaBytes, unshared.arenaBytes * 2 / 3);

  // Every pair of results live at the same time has bytes of its own, but for a view (a
  // reshape, or a step of the time-major input projection) and the value it is a view of.
  auto [first, last] = lifetimesOf(graph);
  std::vector<ir::ValueId> buffer(graph.valueCount());
  for (ir::ValueId id = 0; id < graph.valueCount(); ++id) buffer[id] = id;
  int views = 0, sliceViews = 0;
  for (const ir::Op& op : graph.ops()) {
    if (!codegen::isView(graph, op, plan)) continue;
    buffer[op.result] = buffer[op.operands[0]];
    last[buffer[op.result]] = std::max(last[buffer[op.result]], last[op.result]);
    ++views;
    sliceViews += op.kind == ir::OpKind::Slice;
  }
  EXPECT_GE(sliceViews, 20) << "the steps of the input projection are not views";
  for (ir::ValueId id = 0; id < graph.valueCount(); ++id) last[id] = last[buffer[id]];
  EXPECT_GT(views, 0) << "no reshape is a view";
  std::vector<ir::ValueId> results;
  for (ir::ValueId id = 0; id < graph.valueCount(); ++id)
    if (first[id] >= 0) results.push_back(id);
  int overlaps = 0, shared = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    ir::ValueId a = results[i];
    int64_t startA = plan.offsets[a], endA = startA + graph.type(a).numElements() * 4;
    EXPECT_LE(endA, plan.arenaBytes);
    for (size_t j = i + 1; j < results.size(); ++j) {
      ir::ValueId b = results[j];
      int64_t startB = plan.offsets[b], endB = startB + graph.type(b).numElements() * 4;
      bool shareBytes = startA < endB && startB < endA;
      bool liveTogether = buffer[a] != buffer[b] && !(last[a] < first[b] || last[b] < first[a]);
      overlaps += shareBytes && liveTogether;
      shared += shareBytes;
    }
  }
  EXPECT_EQ(overlaps, 0);
  EXPECT_GT(shared, 0) << "the plan reuses no bytes at all";
}

}  // namespace
}  // namespace dlc
