#include "tests/test_support.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "frontend/lowering.h"
#include "passes/pass.h"
#include "runtime/reference_executor.h"

namespace dlc::testing {

std::string sourcePath(const std::string& relative) {
  return std::string(DLC_SOURCE_DIR) + "/" + relative;
}

TemporaryDirectory::TemporaryDirectory() {
  std::random_device device;
  root_ =
      std::filesystem::temp_directory_path() / fmt::format("dlc-test-{}-{:x}", getpid(), device());
  std::filesystem::create_directories(root_);
}

TemporaryDirectory::~TemporaryDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(root_, ignored);
}

void writeText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string readText(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  std::stringstream buffer;
  buffer << stream.rdbuf();
  return buffer.str();
}

int runDlc(const std::string& arguments, std::string* output, std::string* errors) {
  TemporaryDirectory directory;
  std::string command = fmt::format("{} {} > {} 2> {}", DLC_BINARY, arguments,
                                    directory.path("out"), directory.path("err"));
  int status = std::system(command.c_str());
  if (output) *output = readText(directory.path("out"));
  if (errors) *errors = readText(directory.path("err"));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

ParsedModel parseModelJson(const std::string& json, const std::string& source) {
  ParsedModel parsed;
  parsed.model = parseModel(std::as_bytes(std::span(json.data(), json.size())), source);
  parsed.analysis = analyzeModel(parsed.model, source);
  return parsed;
}

void expectGradientsMatchCentralDifferences(const ir::Graph& graph, const TensorMap& values,
                                            const TensorMap& inputs,
                                            const std::vector<std::string>& weights) {
  // In double, central differences with this step are good to about 1e-10 on our tests.
  constexpr double kStep = 1e-6;
  constexpr double kTolerance = 1e-8;  // relative to max(1, |gradient|)

  ReferenceExecutor<double> executor(graph);
  for (const auto& [name, tensor] : values) executor.setTensor(name, tensor);
  auto loss = [&] {
    executor.run(inputs);
    return executor.outputValues(kLossOutput).at(0);
  };

  // Every analytic gradient from one run at the unperturbed point, before any perturbation.
  loss();
  std::map<std::string, std::vector<double>> gradients;
  for (const std::string& weight : weights)
    gradients[weight] = executor.outputValues(passes::gradientOutputName(weight));

  for (const std::string& weight : weights) {
    const std::vector<double>& analytic = gradients.at(weight);
    std::vector<double>& point = executor.values(weight);
    ASSERT_EQ(analytic.size(), point.size()) << weight;
    bool someNonzero = false;
    for (size_t i = 0; i < point.size(); ++i) {
      double original = point[i];
      point[i] = original + kStep;
      double above = loss();
      point[i] = original - kStep;
      double below = loss();
      point[i] = original;
      double numeric = (above - below) / (2 * kStep);

      EXPECT_NEAR(analytic[i], numeric, kTolerance * std::max(1.0, std::abs(numeric)))
          << "d loss / d " << weight << "[" << i << "]";
      someNonzero |= analytic[i] != 0;
    }
    EXPECT_TRUE(someNonzero) << "the gradient of " << weight << " is all zeros";
  }
}

}  // namespace dlc::testing
