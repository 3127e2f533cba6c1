// Every gradient rule of passes/gradients.cpp against central differences, in double precision
// on the reference executor: for each case of the op table (tests/op_cases.cpp), the loss
// sum(op(weights) * projection) is differentiated by autodiff and by perturbing each weight
// element by ±h. Each case must also have some nonzero gradient for every trainable weight, so
// that a rule returning zeros cannot pass.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "passes/gradients.h"
#include "passes/pass.h"
#include "runtime/reference_executor.h"
#include "tests/op_cases.h"

namespace dlc {
namespace {

using testing::OpCase;

// In double, central differences with this step are good to about 1e-10 on these cases.
constexpr double kStep = 1e-6;
constexpr double kTolerance = 1e-8;  // relative to max(1, |gradient|)

std::vector<OpCase> gradientCases() {
  std::vector<OpCase> cases;
  for (const OpCase& opCase : testing::opCases())
    if (testing::checksGradients(opCase)) cases.push_back(opCase);
  return cases;
}

class GradientCheck : public ::testing::TestWithParam<OpCase> {};

TEST_P(GradientCheck, AutodiffMatchesCentralDifferencesInDouble) {
  testing::BuiltCase built = testing::buildCase(GetParam(), true);
  ASSERT_TRUE(built.hasGradients);
  ASSERT_FALSE(built.trainableWeights.empty());

  ReferenceExecutor<double> executor(built.graph);
  for (const auto& [name, tensor] : built.values) executor.setTensor(name, tensor);
  auto loss = [&] {
    executor.run(built.inputs);
    return executor.outputValues("loss").at(0);
  };
  // Every analytic gradient from one run at the unperturbed point, before any perturbation.
  loss();
  std::map<std::string, std::vector<double>> gradients;
  for (const std::string& weight : built.trainableWeights)
    gradients[weight] = executor.outputValues(passes::gradientOutputName(weight));

  for (const std::string& weight : built.trainableWeights) {
    const std::vector<double>& analytic = gradients.at(weight);
    std::vector<double>& values = executor.values(weight);
    ASSERT_EQ(analytic.size(), values.size()) << weight;

    bool someNonzero = false;
    for (size_t i = 0; i < values.size(); ++i) {
      double original = values[i];
      values[i] = original + kStep;
      double above = loss();
      values[i] = original - kStep;
      double below = loss();
      values[i] = original;
      double numeric = (above - below) / (2 * kStep);

      EXPECT_NEAR(analytic[i], numeric, kTolerance * std::max(1.0, std::abs(numeric)))
          << "d loss / d " << weight << "[" << i << "]";
      someNonzero |= analytic[i] != 0;
    }
    EXPECT_TRUE(someNonzero) << "the gradient of " << weight << " is all zeros";
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, GradientCheck, ::testing::ValuesIn(gradientCases()),
                         [](const auto& info) { return info.param.name; });

TEST(GradientCheckTable, EveryOpWithAGradientRuleHasACase) {
  for (ir::OpKind kind : testing::allOpKinds()) {
    if (passes::gradientRule(kind) == nullptr) continue;
    int cases = 0;
    for (const OpCase& opCase : gradientCases()) cases += opCase.kind == kind;
    EXPECT_GT(cases, 0) << ir::opName(kind)
                        << " has a gradient rule but no gradient-check case in tests/op_cases.cpp";
  }
}

}  // namespace
}  // namespace dlc
