// Runs a graph as native code compiled by the JIT (codegen/), with its arena and the storage of
// its weights and state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "codegen/jit.h"
#include "ir/graph.h"
#include "runtime/executor.h"

namespace dlc {

/// An input of token ids, the rows of the table they index, and the layer of that lookup.
struct TokenIdInput {
  std::string name, layer;
  int64_t rows;
};

/// The inputs that the lookups and scatters of `graph` index tables with.
std::vector<TokenIdInput> tokenIdInputs(const ir::Graph& graph);

/// Token ids out of an embedding's range would read outside its table: throws dlc::Error naming
/// the input, the id's position in it, the id and the layer's range.
void checkTokenIds(const std::vector<TokenIdInput>& idInputs, const TensorMap& inputs);

class JitExecutor final : public Executor {
 public:
  /// Compiles `graph`, which must outlive the executor. Weights and state start at zero.
  explicit JitExecutor(const ir::Graph& graph, const codegen::JitOptions& options = {});
  /// Runs code compiled earlier for `graph`.
  JitExecutor(const ir::Graph& graph, std::unique_ptr<codegen::CompiledGraph> compiled);

  void setTensor(const std::string& name, const Tensor& tensor) override;
  Tensor getTensor(const std::string& name) const override;
  TensorMap run(const TensorMap& inputs) override;

  const codegen::CompiledGraph& compiled() const { return *compiled_; }

 private:
  std::vector<TokenIdInput> idInputs_;  // found once, checked every run

  const ir::Graph& graph_;
  std::unique_ptr<codegen::CompiledGraph> compiled_;
  std::vector<Tensor> storage_;   // by external index: inputs, weights, state
  std::vector<void*> externals_;  // what the compiled code reads
  std::unique_ptr<std::byte[], void (*)(void*)> arena_{nullptr, nullptr};
  bool poisonArena_ = codegen::poisonArenaByDefault();
  /// Whether the results of ops on weights alone are up to date with the weights.
  bool weightsBound_ = false;
};

}  // namespace dlc
