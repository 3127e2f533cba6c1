// The gradients of whole small models as the pass pipeline builds them, with the fusion passes on
// and off: central differences in double on the reference executor for every weight element,
// and the JIT's float gradients against them with the memory plan on and off. The models are the
// golden Siamese LSTMs (both recurrent activations) and tests/data/every_layer.model.json, which
// uses every layer kind (a sequence-returning LSTM, Dense on a rank-3 input, an LSTM without
// bias...). Token ids repeat within and across inputs, so the embedding's gradient must add up.
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

/// A model of tests/data at batch 3, through the pipeline without the optimizer, keeping the
/// "grad/<weight>" outputs.
SmallModel buildSmallModel(const std::string& file, bool fusion) {
  std::string json = testing::readText(testing::sourcePath("tests/data/" + file));
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
  int32_t next = 0;
  for (const std::string& name : small.parsed.model.inputs) {
    const ir::Type& type = small.graph.type(small.graph.findNamed(name));
    std::vector<int32_t> ids;
    for (int64_t i = 0; i < type.numElements(); ++i) ids.push_back((next++ * 7) % 11);
    small.inputs[name] = Tensor::fromInts(type.shape, ids);
  }
  small.inputs[kLabelsInput] = Tensor::fromFloats({3, 1}, {1, 0, 1});
  return small;
}

/// (model file, fusion on)
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

TEST_P(ModelGradients, AreTheSameWithAndWithoutFusion) {
  SmallModel other = buildSmallModel(std::get<0>(GetParam()), !std::get<1>(GetParam()));
  ReferenceExecutor<double> ours(model_.graph), theirs(other.graph);
  for (const auto& [name, tensor] : model_.weights) {
    ours.setTensor(name, tensor);
    theirs.setTensor(name, tensor);
  }
  ours.run(model_.inputs);
  theirs.run(other.inputs);

  ASSERT_EQ(model_.graph.outputs().size(), other.graph.outputs().size());
  for (const ir::GraphOutput& output : model_.graph.outputs()) {
    const std::vector<double>& a = ours.outputValues(output.name);
    const std::vector<double>& b = theirs.outputValues(output.name);
    ASSERT_EQ(a.size(), b.size()) << output.name;
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_NEAR(a[i], b[i], 1e-12 * std::max(1.0, std::abs(b[i])))
          << output.name << "[" << i << "]";
  }
}

INSTANTIATE_TEST_SUITE_P(
    SmallModels, ModelGradients,
    ::testing::Combine(::testing::Values("golden/siamese_sigmoid.model.json",
                                         "golden/siamese_hard_sigmoid.model.json",
                                         "every_layer.model.json"),
                       ::testing::Bool()),
    [](const auto& info) {
      std::string file = std::get<0>(info.param);
      std::string stem = file.substr(file.rfind('/') + 1);
      stem = stem.substr(0, stem.find('.'));
      return stem + (std::get<1>(info.param) ? "_fused" : "_unfused");
    });

}  // namespace
}  // namespace dlc
