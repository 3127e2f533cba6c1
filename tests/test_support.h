// Helpers shared by the tests: temporary files, running the dlc command, loading models.
#pragma once

#include <filesystem>
#include <string>

#include "frontend/layers.h"
#include "frontend/model_io.h"
#include "runtime/quora_data.h"

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

/// A model parsed from JSON text, with its analysis.
struct ParsedModel {
  schema::ModelT model;
  ModelAnalysis analysis;
};
ParsedModel parseModelJson(const std::string& json, const std::string& source = "test.json");

/// The JSON of a Siamese LSTM small enough to train in a second, with a tokenizer section.
std::string smallSiameseModel(int vocabulary, int sequenceLength);

/// Pairs of made-up questions: duplicates ask about the same topic word, others differ in it.
std::vector<QuestionPair> toyPairs(int count, uint64_t seed);

}  // namespace dlc::testing
