// The gradients of a whole (small) Siamese LSTM as the pass pipeline builds them, with the fusion
// passes on and off: central differences in double on the reference executor for every weight
// element, and the JIT's float gradients against them with the memory plan on and off. Token ids
// repeat within and across the two questions, so the embedding's gradient must add up.
#include <gtest/gtest.h>

#include <cmath>

#include "frontend/lowering.h"
#include "passes/pass.h"
#include "runtime/jit_executor.h"
#include "runtime/reference_executor.h"
#include "runtime/weights.h"
#include "tests/test_support.h"

namespace dlc {
namespace {

struct SmallModel {
  testing::ParsedModel parsed;
  ir::Graph graph;
  TensorMap weights, inputs;
};

/// The golden case's model (5 steps, 8 features, 6 units) at batch 3, through the pipeline
/// without the optimizer, keeping the "grad/<weight>" outputs.
SmallModel buildSmallModel(const std::string& recurrentActivation, bool fusion) {
  std::string json = testing::readText(
      testing::sourcePath("tests/data/golden/siamese_" + recurrentActivation + ".model.json"));
  SmallModel small{testing::parseModelJson(json), ir::Graph(), {}, {}};
  small.graph = lowerModel(small.parsed.model, small.parsed.analysis, {3, true});
  passes::PassOptions options;
  options.training = true;
  options.keepGradientOutputs = true;
  options.disabled = {"optimizer"};
  options.noFusion = !fusion;
  passes::runPipeline(small.graph, options);

  small.weights = initializeWeights(small.parsed.analysis, 5);
  // Larger than Keras's initial embeddings, so that the LSTM's gates move off their linear parts.
  for (float& value : small.weights.at("embedding/embeddings").data<float>()) value *= 20;
  small.inputs["question1"] =
      Tensor::fromInts({3, 5}, {1, 2, 3, 2, 1, 4, 4, 4, 0, 29, 7, 1, 7, 1, 7});
  small.inputs["question2"] =
      Tensor::fromInts({3, 5}, {2, 1, 9, 9, 3, 5, 0, 4, 4, 28, 1, 7, 1, 2, 3});
  small.inputs[kLabelsInput] = Tensor::fromFloats({3, 1}, {1, 0, 1});
  return small;
}

/// (recurrent activation, fusion on)
class ModelGradients : public ::testing::TestWithParam<std::tuple<std::string, bool>> {
 protected:
  SmallModel model_ = buildSmallModel(std::get<0>(GetParam()), std::get<1>(GetParam()));
};

TEST_P(ModelGradients, MatchCentralDifferencesInDouble) {
  bool fused = false;
  for (const ir::Op& op : model_.graph.ops()) fused |= op.kind == ir::OpKind::FusedLstmCell;
  EXPECT_EQ(fused, std::get<1>(GetParam())) << "fusion did not do what the case is about";

  std::vector<std::string> weights;
  for (const auto& [name, tensor] : model_.weights) weights.push_back(name);
  testing::expectGradientsMatchCentralDifferences(model_.graph, model_.weights, model_.inputs,
                                                  weights);
}

TEST_P(ModelGradients, OnTheJitAgreeWithDoublePrecision) {
  ReferenceExecutor<double> precise(model_.graph);
  for (const auto& [name, tensor] : model_.weights) precise.setTensor(name, tensor);
  precise.run(model_.inputs);

  for (bool reuseMemory : {true, false}) {
    JitExecutor jit(model_.graph, {.reuseMemory = reuseMemory});
    for (const auto& [name, tensor] : model_.weights) jit.setTensor(name, tensor);
    TensorMap outputs = jit.run(model_.inputs);
    for (const auto& [name, tensor] : model_.weights) {
      std::string output = passes::gradientOutputName(name);
      const std::vector<double>& expected = precise.outputValues(output);
      auto actual = outputs.at(output).data<float>();
      ASSERT_EQ(actual.size(), expected.size()) << output;
      double scale = 0;
      for (double value : expected) scale = std::max(scale, std::abs(value));
      for (size_t i = 0; i < expected.size(); ++i)
        EXPECT_NEAR(actual[i], expected[i], 1e-4 * scale)
            << output << "[" << i << "], memory plan " << (reuseMemory ? "on" : "off");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SiameseLstm, ModelGradients,
                         ::testing::Combine(::testing::Values("sigmoid", "hard_sigmoid"),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param) +
                                  (std::get<1>(info.param) ? "_fused" : "_unfused");
                         });

}  // namespace
}  // namespace dlc
