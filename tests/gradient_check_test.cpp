// Every gradient rule of passes/gradients.cpp against central differences, in double precision
// on the reference executor: for each case of the op table (tests/op_cases.cpp), the loss
// sum(op(weights) * projection) is differentiated by autodiff and by perturbing each weight
// element by ±h. Each case must also have some nonzero gradient for every trainable weight, so
// that a rule returning zeros cannot pass.
#include <gtest/gtest.h>

#include "passes/gradients.h"
#include "passes/pass.h"
#include "tests/op_cases.h"
#include "tests/test_support.h"

namespace dlc {
namespace {

using testing::OpCase;

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

  testing::expectGradientsMatchCentralDifferences(built.graph, built.values, built.inputs,
                                                  built.trainableWeights);
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
