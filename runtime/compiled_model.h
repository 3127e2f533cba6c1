// The runtime library's entry point: a model compiled for one batch size, loaded from a model
// file or from a compiled graph (`dlc compile -o model.dlc`), ready for inference or training
// steps.
#pragma once

#include <iosfwd>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "codegen/memory_plan.h"
#include "frontend/layers.h"
#include "ir/graph.h"
#include "support/tensor.h"

namespace dlc {

class PairEncoder;
class Session;

/// The newest compiled graph format version this build reads and writes.
inline constexpr uint32_t kCompiledFormatVersion = 1;

/// What a compiled graph file holds, read and checked (identifier, FlatBuffers verifier,
/// checksum, version, the model it carries), but not linked yet.
struct CompiledGraphFile {
  schema::ModelT model;
  ModelAnalysis analysis;
  int64_t batchSize = 0;
  bool training = false;
  std::set<std::string> disabledPasses;
  uint32_t graphFingerprint = 0;  // 0: none recorded
  std::string cpu;
  std::string objectCode;
  codegen::MemoryPlan memoryPlan;
};

/// Parses the contents of a compiled graph file; a dlc::Error naming `source` if it is truncated,
/// corrupt, from a newer dlc, or carries a model that does not validate.
CompiledGraphFile parseCompiledGraph(std::span<const std::byte> contents,
                                     const std::string& source);

class CompiledModel {
 public:
  struct Options {
    int64_t batchSize = 64;
    /// Each run is a training step: inputs plus "labels", outputs plus "loss".
    bool training = false;
    /// Passes not to run, by name.
    std::set<std::string> disabledPasses;
    /// What the passes say while compiling (dlc compile -v, --print-ir-after-all), and where.
    bool verbose = false;
    bool printAfterAll = false;
    std::ostream* log = nullptr;
  };

  /// Compiles a model file (binary or JSON form) for this CPU.
  static std::unique_ptr<CompiledModel> compile(const std::string& modelPath,
                                                const Options& options);
  static std::unique_ptr<CompiledModel> compile(schema::ModelT model, const std::string& source,
                                                const Options& options);

  /// Loads a compiled graph file. Its code is linked as it is when it was compiled for this CPU
  /// and for the graph this dlc makes of the model it carries, and compiled again from that
  /// model otherwise (see recompiled()). A truncated or corrupt file, or one from a newer dlc,
  /// is a dlc::Error (see parseCompiledGraph).
  static std::unique_ptr<CompiledModel> load(const std::string& path);

  /// Whether the file at `path` starts like a compiled graph (rather than a model file).
  static bool isCompiledGraph(const std::string& path);

  /// Writes the compiled graph file atomically, with its checksum: native code, memory plan, the
  /// model with its current weights, and the settings to compile it again.
  void save(const std::string& path) const;

  ~CompiledModel();

  int64_t batchSize() const { return options_.batchSize; }
  bool training() const { return options_.training; }
  bool recompiled() const { return recompiled_; }
  double compileSeconds() const;
  const codegen::MemoryPlan& memoryPlan() const;
  const ir::Graph& graph() const;
  const schema::ModelT& model() const { return model_; }

  /// Names and types of what run() takes and returns.
  std::vector<std::pair<std::string, ir::Type>> inputs() const;
  std::vector<std::pair<std::string, ir::Type>> outputs() const;

  /// One inference, or one training step (which updates the weights).
  TensorMap run(const TensorMap& inputs);

  void setWeights(const TensorMap& weights);
  TensorMap weights() const;

  /// The probability that each pair of questions are duplicates, from raw text, through the
  /// tokenizer the model file carries.
  std::vector<float> predictPairs(const std::vector<std::pair<std::string, std::string>>& pairs);

 private:
  CompiledModel() = default;

  schema::ModelT model_;
  std::string source_;
  ModelAnalysis analysis_;
  Options options_;
  std::unique_ptr<Session> session_;
  std::unique_ptr<PairEncoder> encoder_;  // made by the first predictPairs()
  bool recompiled_ = false;
};

}  // namespace dlc
