// The dlc command's own behaviour, whatever the subcommand: option errors and failed writes are
// one "dlc: error:" line and status 1, files are named in errors, outputs are written where
// their symbolic links point, and a compiled graph serves as a model where a model is read.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <filesystem>

#include "frontend/model_io.h"
#include "runtime/safetensors.h"
#include "tests/test_support.h"

namespace dlc {
namespace {

using testing::runDlc;
using testing::TemporaryDirectory;

const std::string kGolden = testing::sourcePath("tests/data/golden/siamese_sigmoid");

/// Expects `arguments` to fail with status 1 and one error line containing `expected`.
void expectOneErrorLine(const std::string& arguments, const std::string& expected) {
  std::string errors;
  EXPECT_EQ(runDlc(arguments, nullptr, &errors), 1) << arguments << "\n" << errors;
  EXPECT_TRUE(errors.starts_with("dlc: error: ")) << errors;
  EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 1) << errors;
  EXPECT_NE(errors.find(expected), std::string::npos) << arguments << "\n" << errors;
}

/// The small golden model with its weights, in a binary model file in `directory`.
std::string goldenModelWithWeights(const TemporaryDirectory& directory) {
  std::string path = directory.path("golden.fbs");
  EXPECT_EQ(runDlc(fmt::format("weights import {}.model.json {}.weights.safetensors -o {}", kGolden,
                               kGolden, path)),
            0);
  return path;
}

TEST(CommandLine, OptionErrorsAreOneLineAndStatusOne) {
  std::string model = testing::sourcePath("examples/quora_siamese/model.json");
  std::string train = fmt::format("train {} --data pairs.tsv --out out.fbs", model);
  struct Case {
    std::string arguments, expected;
  };
  for (const Case& bad : std::vector<Case>{
           {"", "A subcommand is required (see dlc --help)"},
           {"train", "model is required (see dlc train --help)"},
           {train + " --batch-size 0", "--batch-size: Value 0 not in range"},
           {train + " --threads 0", "--threads"},
           {train + " --epochs -1", "--epochs"},
           {train + " --validation-split 1.5", "--validation-split"},
           {train + " --out again.fbs", "--out"},
           {train + " --steps 0", "--steps: Value 0 not in range 1"},
           {train + " --learning-rate 0", "--learning-rate: expected a finite number above 0"},
           {train + " --learning-rate nan", "--learning-rate: expected a finite number above 0"},
           {train + " --seed -1", "--seed: expected a whole number from 0"},
           {"weights export " + model + " -o w.safetensors --seed -1", "--seed"},
           {"summary " + model + " --bogus", "(see dlc summary --help)"},
           {"serve " + model + " --host ''", "--host: expected an address (127.0.0.1, ::1"},
       })
    expectOneErrorLine(bad.arguments, bad.expected);

  std::string help;
  EXPECT_EQ(runDlc("train --help", &help), 0);
  EXPECT_NE(help.find("--learning-rate"), std::string::npos) << help;
  EXPECT_EQ(runDlc("--help", &help), 0);
  EXPECT_NE(help.find("summary"), std::string::npos) << help;
}

TEST(CommandLine, AFailedWriteToStandardOutputIsAnError) {
  TemporaryDirectory directory;
  std::string model = testing::sourcePath("examples/quora_siamese/model.json");
  for (const std::string& arguments : {"summary " + model, "summary " + model + " --json",
                                       "compile " + model + " --emit=ir", std::string("--help")}) {
    std::string errors;
    EXPECT_EQ(testing::runDlcWithUnwritableOutput(arguments, &errors), 1) << arguments;
    EXPECT_TRUE(errors.starts_with("dlc: error: standard output: cannot write")) << errors;
  }
}

TEST(CommandLine, ADirectoryGivenForAFileIsNamed) {
  TemporaryDirectory directory;
  std::string folder = directory.path("folder");
  std::filesystem::create_directory(folder);
  std::string model = goldenModelWithWeights(directory);
  for (const std::string& arguments :
       {"summary " + folder, "convert " + folder + " -o x.fbs", "compile " + folder + " -o x.dlc",
        "weights import " + model + " " + folder + " -o x.fbs",
        "run " + model + " --inputs " + folder + " -o x.safetensors"})
    expectOneErrorLine(arguments, folder + ": cannot read: it is a directory");
}

TEST(CommandLine, OutputsGoThroughSymbolicLinksAndNeverReplaceSpecialFiles) {
  TemporaryDirectory directory;
  std::string model = goldenModelWithWeights(directory);
  std::string target = directory.path("target.safetensors");
  std::string link = directory.path("link.safetensors");
  testing::writeText(target, "old");
  std::filesystem::create_symlink(target, link);
  ASSERT_EQ(runDlc(fmt::format("weights export {} -o {}", model, link)), 0);
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(readSafetensors(target).size(), 6u);

  std::string fifo = directory.path("fifo.fbs");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  expectOneErrorLine(fmt::format("convert {} -o {}", model, fifo),
                     fifo + ": cannot write: it is a FIFO, not a regular file");
  EXPECT_TRUE(std::filesystem::is_fifo(fifo));
}

TEST(CommandLine, ACompiledGraphIsReadAsTheModelItHolds) {
  TemporaryDirectory directory;
  std::string model = goldenModelWithWeights(directory);
  std::string compiled = directory.path("golden.dlc");
  ASSERT_EQ(runDlc(fmt::format("compile {} -o {} --batch 4", model, compiled)), 0);

  std::string fromModel, fromCompiled;
  ASSERT_EQ(runDlc("summary " + model, &fromModel), 0);
  ASSERT_EQ(runDlc("summary " + compiled, &fromCompiled), 0);
  EXPECT_EQ(fromModel, fromCompiled);
  std::string weights = directory.path("weights.safetensors");
  ASSERT_EQ(runDlc(fmt::format("weights export {} -o {}", compiled, weights)), 0);
  TensorMap exported = readSafetensors(weights);
  TensorMap expected = readSafetensors(kGolden + ".weights.safetensors");
  for (const auto& [name, tensor] : expected) {
    std::span<const std::byte> bytes = tensor.bytes();
    EXPECT_TRUE(std::ranges::equal(exported.at(name).bytes(), bytes)) << name;
  }

  // Compiling again needs the model itself.
  expectOneErrorLine(fmt::format("compile {} -o {}", compiled, directory.path("again.dlc")),
                     compiled + ": this is a compiled graph (made by dlc compile -o), not a model");
}

TEST(CommandLine, TensorsNeverReplaceAModel) {
  TemporaryDirectory directory;
  std::string model = goldenModelWithWeights(directory);
  std::string before = testing::readText(model);
  expectOneErrorLine(fmt::format("weights export {} -o {}", model, model),
                     model +
                         ": this names a model file (.fbs): tensors are written to a "
                         ".safetensors file");
  expectOneErrorLine(fmt::format("run {} --inputs {}.inputs.safetensors -o {}", model, kGolden,
                                 directory.path("out.json")),
                     "out.json: this names a model file (.json)");
  EXPECT_EQ(testing::readText(model), before);
  EXPECT_FALSE(std::filesystem::exists(directory.path("out.json")));
}

TEST(CommandLine, RunRefusesLabelsOrALossThatAreNotFinite) {
  TemporaryDirectory directory;
  std::string model = goldenModelWithWeights(directory);
  TensorMap inputs = readSafetensors(kGolden + ".inputs.safetensors");
  // The golden inputs with label `index` set to `value`, as the file `name`.
  auto withLabel = [&](const std::string& name, int index, float value) {
    inputs.at("is_duplicate").data<float>()[index] = value;
    std::string path = directory.path(name);
    writeSafetensors(path, inputs);
    return path;
  };
  std::string output = directory.path("out.safetensors");
  auto run = [&](const std::string& modelPath, const std::string& inputsPath) {
    return fmt::format("run {} --inputs {} --labels is_duplicate -o {}", modelPath, inputsPath,
                       output);
  };

  std::string withNan = withLabel("nan.safetensors", 1, std::nanf(""));
  expectOneErrorLine(run(model, withNan) + " --train-steps 2",
                     withNan + ": labels 'is_duplicate' hold nan at index 1");
  EXPECT_FALSE(std::filesystem::exists(output));

  // Binary cross-entropy takes probabilities as labels: soft ones pass, others do not.
  EXPECT_EQ(runDlc(run(model, withLabel("soft.safetensors", 1, 0.25f))), 0);
  std::string outOfRange = withLabel("two.safetensors", 2, 2.0f);
  expectOneErrorLine(run(model, outOfRange),
                     outOfRange + ": labels 'is_duplicate' hold 2 at index 2; binary "
                                  "cross-entropy needs labels in [0, 1]");

  // The mean squared error takes any finite target.
  std::string meanSquared = directory.path("mse.model.json");
  std::string json = testing::readText(kGolden + ".model.json");
  const std::string training = "\"training\": {";
  size_t at = json.find(training);
  ASSERT_NE(at, std::string::npos);
  testing::writeText(meanSquared,
                     json.insert(at + training.size(), " \"loss\": \"MeanSquaredError\","));
  EXPECT_EQ(runDlc(run(meanSquared, outOfRange)), 0);
  std::string infinite =
      withLabel("infinite.safetensors", 2, std::numeric_limits<float>::infinity());
  expectOneErrorLine(run(meanSquared, infinite),
                     infinite + ": labels 'is_duplicate' hold inf at index 2; the mean squared "
                                "error needs finite labels");
}

TEST(CommandLine, RunNamesTheShapeAnInputMustHave) {
  TemporaryDirectory directory;
  std::string model = goldenModelWithWeights(directory);
  TensorMap inputs = readSafetensors(kGolden + ".inputs.safetensors");
  const std::vector<std::string> names = loadModel(model).inputs;
  const std::string& name = names.at(0);
  int64_t batch = inputs.at(name).shape()[0], steps = inputs.at(name).shape()[1];
  for (const std::string& input : names)  // the ids in a row, their batch dimension forgotten
    inputs.at(input).reshape({batch * steps});
  std::string flat = directory.path("flat.safetensors");
  writeSafetensors(flat, inputs);
  expectOneErrorLine(
      fmt::format("run {} --inputs {} -o {}", model, flat, directory.path("out.safetensors")),
      fmt::format("{}: tensor '{}' must be i32[batch, {}] for the model input of that name (here "
                  "batch {}), got i32[{}]",
                  flat, name, steps, batch * steps, batch * steps));
}

TEST(CommandLine, RunWritesGradientsOnlyWhenAskedTo) {
  TemporaryDirectory directory;
  std::string model = goldenModelWithWeights(directory);
  auto outputNames = [&](const std::string& flags) {
    std::string output = directory.path("out.safetensors");
    std::string errors;
    EXPECT_EQ(runDlc(fmt::format("run {} --inputs {}.inputs.safetensors --labels is_duplicate {} "
                                 "-o {}",
                                 model, kGolden, flags, output),
                     nullptr, &errors),
              0)
        << errors;
    std::vector<std::string> names;
    for (const auto& [name, tensor] : readSafetensors(output)) names.push_back(name);
    return names;
  };
  auto isGradient = [](const std::string& name) { return name.starts_with("grad/"); };

  std::vector<std::string> lossOnly = outputNames("");
  EXPECT_NE(std::find(lossOnly.begin(), lossOnly.end(), "loss"), lossOnly.end());
  EXPECT_EQ(std::count_if(lossOnly.begin(), lossOnly.end(), isGradient), 0);
  std::vector<std::string> withGradients = outputNames("--gradients");
  EXPECT_EQ(std::count_if(withGradients.begin(), withGradients.end(), isGradient), 6);
}

}  // namespace
}  // namespace dlc
