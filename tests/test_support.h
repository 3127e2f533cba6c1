// Helpers shared by the tests: temporary files, running the dlc command, loading models.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "frontend/layers.h"
#include "frontend/model_io.h"
#include "ir/graph.h"
#include "runtime/quora_data.h"
#include "support/tensor.h"

namespace dlc::testing {

/// The repository root (for examples/ and tests/data/).
std::string sourcePath(const std::string& relative);

/// A fresh empty directory, removed when the object goes away.
class TemporaryDirectory {
 public:
  TemporaryDirectory();
  ~TemporaryDirectory();
  std::string path(const std::string& name) const { return (root_ / name).string(); }

 private:
  std::filesystem::path root_;
};

void writeText(const std::string& path, const std::string& text);
std::string readText(const std::string& path);

/// Runs the dlc binary with `arguments` (a shell-quoted string); returns its exit status and
/// fills `output` with stdout and `errors` with stderr.
int runDlc(const std::string& arguments, std::string* output = nullptr,
           std::string* errors = nullptr);

/// Runs the dlc binary with `arguments` and its standard output open for reading only, so that
/// every write to it fails (as on a full disk); returns its exit status, fills `errors`.
int runDlcWithUnwritableOutput(const std::string& arguments, std::string* errors);

/// A model parsed from JSON text, with its analysis.
struct ParsedModel {
  schema::ModelT model;
  ModelAnalysis analysis;
};
ParsedModel parseModelJson(const std::string& json, const std::string& source = "test.json");

/// Checks autodiff's "grad/<weight>" outputs of `graph` against central differences of its
/// "loss" output, in double precision on the reference executor, for every element of each of
/// `weights`; and that each of those gradients has a nonzero element, so that a rule returning
/// zeros cannot pass. `values` sets the weights and state, `inputs` feeds every run.
void expectGradientsMatchCentralDifferences(const ir::Graph& graph, const TensorMap& values,
                                            const TensorMap& inputs,
                                            const std::vector<std::string>& weights);

/// The JSON of a Siamese LSTM small enough to train in a second, with a tokenizer section.
std::string smallSiameseModel(int vocabulary, int sequenceLength);

/// Pairs of made-up questions: duplicates ask about the same topic word, others differ in it.
std::vector<QuestionPair> toyPairs(int count, uint64_t seed);

}  // namespace dlc::testing
