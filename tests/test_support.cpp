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

namespace {

/// Runs dlc with `arguments` and stdout redirected as `outputRedirection` says, given the path
/// of a file for it; stderr goes to a file read into `errors`.
int runDlcRedirected(const std::string& arguments, const std::string& outputRedirection,
                     std::string* output, std::string* errors) {
  TemporaryDirectory directory;
  std::string outputPath = directory.path("out");
  writeText(outputPath, "");
  std::string command = fmt::format("{} {} {}{} 2> {}", DLC_BINARY, arguments, outputRedirection,
                                    outputPath, directory.path("err"));
  int status = std::system(command.c_str());
  if (output) *output = readText(outputPath);
  if (errors) *errors = readText(directory.path("err"));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

int runDlc(const std::string& arguments, std::string* output, std::string* errors) {
  return runDlcRedirected(arguments, ">", output, errors);
}

int runDlcWithUnwritableOutput(const std::string& arguments, std::string* errors) {
  return runDlcRedirected(arguments, "1<", nullptr, errors);
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
    ASSERT_EQ(analytic.size(), executor.values(weight).size()) << weight;
    // Each change goes through values(), which tells the executor that the ops on weights alone
    // must run again.
    auto perturbedLoss = [&](size_t i, double value) {
      executor.values(weight)[i] = value;
      return loss();
    };
    bool someNonzero = false;
    for (size_t i = 0; i < analytic.size(); ++i) {
      double original = executor.values(weight)[i];
      double above = perturbedLoss(i, original + kStep);
      double below = perturbedLoss(i, original - kStep);
      executor.values(weight)[i] = original;
      double numeric = (above - below) / (2 * kStep);

      EXPECT_NEAR(analytic[i], numeric, kTolerance * std::max(1.0, std::abs(numeric)))
          << "d loss / d " << weight << "[" << i << "]";
      someNonzero |= analytic[i] != 0;
    }
    EXPECT_TRUE(someNonzero) << "the gradient of " << weight << " is all zeros";
  }
}

// It compares the two states elementwise (Multiply, then Dense) rather than with one dot
// product: the dot of two small initial states starts on a plateau that the model leaves after a
// while that depends on the shuffling.
std::string smallSiameseModel(int vocabulary, int sequenceLength) {
  return fmt::format(R"({{
    "name": "small_siamese", "inputs": ["q1", "q2"], "outputs": ["dense"],
    "layers": [
      {{ "name": "q1", "kind": "Input", "input": {{ "shape": [{1}] }} }},
      {{ "name": "q2", "kind": "Input", "input": {{ "shape": [{1}] }} }},
      {{ "name": "embedding", "kind": "Embedding", "inputs": ["q1", "q2"],
         "embedding": {{ "input_dim": {0}, "output_dim": 16 }} }},
      {{ "name": "lstm", "kind": "LSTM", "inputs": ["embedding:0", "embedding:1"],
         "lstm": {{ "units": 16 }} }},
      {{ "name": "product", "kind": "Multiply", "inputs": ["lstm:0", "lstm:1"] }},
      {{ "name": "dense", "kind": "Dense", "inputs": ["product"],
         "dense": {{ "units": 1, "activation": "Sigmoid" }} }} ],
    "training": {{ "optimizer": {{ "kind": "Adam", "learning_rate": 0.05 }} }},
    "preprocessing": {{ "num_words": {2}, "sequence_length": {1}, "padding_value": {3},
                        "filters": "?", "split": " ", "text_inputs": ["q1", "q2"] }} }})",
                     vocabulary, sequenceLength, vocabulary - 2, vocabulary - 1);
}

std::vector<QuestionPair> toyPairs(int count, uint64_t seed) {
  const std::vector<std::string> topics = {"physics", "geology", "python", "music",  "cooking",
                                           "india",   "money",   "health", "travel", "chess"};
  const std::vector<std::string> openings = {"how do i learn", "what is the best way to study",
                                             "where can i read about", "why should i care about"};
  std::mt19937_64 generator(seed);
  std::vector<QuestionPair> pairs;
  for (int i = 0; i < count; ++i) {
    size_t topic = generator() % topics.size();
    bool duplicate = generator() % 2 == 0;
    size_t other =
        duplicate ? topic : (topic + 1 + generator() % (topics.size() - 1)) % topics.size();
    pairs.push_back({openings[generator() % openings.size()] + " " + topics[topic] + "?",
                     openings[generator() % openings.size()] + " " + topics[other] + "?",
                     duplicate ? 1.0f : 0.0f});
  }
  return pairs;
}

}  // namespace dlc::testing
