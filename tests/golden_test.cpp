// The Siamese LSTM against reference values from PyTorch (tests/data/golden), through `dlc run`:
// probabilities, loss, every gradient, and the weights after 5 Adam steps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "runtime/safetensors.h"
#include "tests/test_support.h"

namespace dlc {
namespace {

using testing::sourcePath;

float maxAbs(std::span<const float> values) {
  float largest = 0;
  for (float value : values) largest = std::max(largest, std::abs(value));
  return largest;
}

float maxAbsDifference(std::span<const float> a, std::span<const float> b) {
  EXPECT_EQ(a.size(), b.size());
  float largest = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    largest = std::max(largest, std::abs(a[i] - b[i]));
  return largest;
}

/// (golden case, executor)
class GoldenTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  std::string golden(const std::string& suffix) const {
    return sourcePath("tests/data/golden/" + std::get<0>(GetParam()) + suffix);
  }

  /// Imports the reference weights into the dlc model of the case, runs `dlc run` with extra
  /// arguments (the labels, for a training graph), and returns what it wrote.
  TensorMap runDlc(const std::string& extraArguments) {
    std::string model = directory_.path("model.fbs");
    EXPECT_EQ(testing::runDlc(fmt::format("weights import {} {} -o {}", golden(".model.json"),
                                          golden(".weights.safetensors"), model)),
              0);
    std::string output = directory_.path("out.safetensors");
    std::string errors;
    int status = testing::runDlc(
        fmt::format("run {} --inputs {} --executor {} {} -o {}", model,
                    golden(".inputs.safetensors"), std::get<1>(GetParam()), extraArguments, output),
                                 nullptr, &errors);
    EXPECT_EQ(status, 0) << errors;
    return readSafetensors(output);
  }

  testing::TemporaryDirectory directory_;
};

TEST_P(GoldenTest, ProbabilitiesLossAndGradientsMatchTheReference) {
  TensorMap expected = readSafetensors(golden(".expected.safetensors"));
  TensorMap actual = runDlc("--labels is_duplicate --gradients");

  auto probabilities = actual.at("dense").data<float>();
  auto reference = expected.at("probabilities").data<float>();
  ASSERT_EQ(probabilities.size(), reference.size());
  for (size_t i = 0; i < reference.size(); ++i)
    EXPECT_NEAR(probabilities[i], reference[i], 1e-5 * std::abs(reference[i]));
  float loss = expected.at("loss").data<float>()[0];
  EXPECT_NEAR(actual.at("loss").data<float>()[0], loss, 1e-5 * loss);

  int gradients = 0;
  for (const auto& [name, tensor] : expected) {
    if (!name.starts_with("grad/")) continue;
    ++gradients;
    ASSERT_TRUE(actual.count(name)) << name;
    float scale = maxAbs(tensor.data<float>());
    EXPECT_GT(scale, 0) << name;
    EXPECT_LE(maxAbsDifference(actual.at(name).data<float>(), tensor.data<float>()), 1e-4 * scale)
        << name;
  }
  EXPECT_EQ(gradients, 6);
}

// Without labels `dlc run` builds the inference graph, where other passes run (the folded
// embedding, whole LSTM steps in one op).
TEST_P(GoldenTest, InferenceProbabilitiesMatchTheReference) {
  TensorMap expected = readSafetensors(golden(".expected.safetensors"));
  auto reference = expected.at("probabilities").data<float>();
  TensorMap actual = runDlc("");
  ASSERT_FALSE(actual.count("loss"));
  auto probabilities = actual.at("dense").data<float>();
  ASSERT_EQ(probabilities.size(), reference.size());
  for (size_t i = 0; i < reference.size(); ++i)
    EXPECT_NEAR(probabilities[i], reference[i], 1e-5 * std::abs(reference[i]));
}

TEST_P(GoldenTest, FiveAdamStepsMatchTheReference) {
  TensorMap expected = readSafetensors(golden(".expected.safetensors"));
  TensorMap actual = runDlc("--labels is_duplicate --train-steps 5");

  auto losses = actual.at("losses").data<float>();
  auto referenceLosses = expected.at("adam5/losses").data<float>();
  ASSERT_EQ(losses.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_NEAR(losses[i], referenceLosses[i], 1e-5 * losses[i]);
  EXPECT_LT(losses[4], losses[0]);

  for (const auto& [name, tensor] : expected) {
    if (!name.starts_with("adam5/") || name == "adam5/losses") continue;
    std::string weight = name.substr(6);
    ASSERT_TRUE(actual.count(weight)) << weight;
    EXPECT_LE(maxAbsDifference(actual.at(weight).data<float>(), tensor.data<float>()), 1e-5)
        << weight;
  }
}

INSTANTIATE_TEST_SUITE_P(RecurrentActivationsAndExecutors, GoldenTest,
                         ::testing::Combine(::testing::Values("siamese_sigmoid",
                                                              "siamese_hard_sigmoid"),
                                            ::testing::Values("jit", "reference")));

}  // namespace
}  // namespace dlc
