// Golden text of the IR of the example model, as `dlc compile --emit` prints it: lowered, and
// after the pass pipeline, for inference and for the training step, at batch 2. A change to
// lowering or to a pass shows up as a diff of tests/data/ir/*.ir.
//
// After a deliberate change, rewrite the files and review the diff before committing:
//   DLC_UPDATE_GOLDEN=1 build/tests/dlc_tests --gtest_filter='*IrGolden*'
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

#include "tests/test_support.h"

namespace dlc {
namespace {

struct IrCase {
  std::string name;       // the golden file's stem
  std::string arguments;  // for dlc compile
};

void PrintTo(const IrCase& irCase, std::ostream* stream) { *stream << irCase.name; }

std::string emit(const std::string& arguments) {
  std::string output, errors;
  std::string model = testing::sourcePath("examples/quora_siamese/model.fbs");
  EXPECT_EQ(testing::runDlc("compile " + model + " --batch 2 " + arguments, &output, &errors), 0)
      << errors;
  return output;
}

class IrGolden : public ::testing::TestWithParam<IrCase> {};

TEST_P(IrGolden, MatchesTheGoldenFile) {
  std::string path = testing::sourcePath("tests/data/ir/" + GetParam().name + ".ir");
  std::string text = emit(GetParam().arguments);
  ASSERT_FALSE(text.empty());

  if (std::getenv("DLC_UPDATE_GOLDEN")) {
    testing::writeText(path, text);
    GTEST_SKIP() << "rewrote " << path;
  }
  std::string golden = testing::readText(path);
  ASSERT_FALSE(golden.empty()) << path << " is missing; run with DLC_UPDATE_GOLDEN=1";
  EXPECT_EQ(text, golden) << "the IR differs from " << path
                          << " (DLC_UPDATE_GOLDEN=1 rewrites it after a deliberate change)";
}

TEST_P(IrGolden, PrintsTheSameTextEveryTimeWithoutAddresses) {
  std::string text = emit(GetParam().arguments);
  EXPECT_EQ(emit(GetParam().arguments), text);
  EXPECT_FALSE(std::regex_search(text, std::regex("0x[0-9a-fA-F]{6,}"))) << "a pointer value?";
}

INSTANTIATE_TEST_SUITE_P(ExampleModel, IrGolden,
                         ::testing::Values(IrCase{"inference_lowered", "--emit=ir-lowered"},
                                           IrCase{"inference", "--emit=ir"},
                                           IrCase{"training_lowered",
                                                  "--emit=ir-lowered --training"},
                                           IrCase{"training", "--emit=ir --training"}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace dlc
