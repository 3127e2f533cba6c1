// Small helpers for passes that match patterns of ops.
#pragma once

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <optional>
#include <ostream>
#include <string>

#include "ir/graph.h"
#include "passes/pass.h"

namespace dlc::passes {

/// What a pattern-matching pass knows about the graph as it was when the pass started.
class GraphIndex {
 public:
  explicit GraphIndex(const ir::Graph& graph)
      : graph_(graph),
        producers_(ir::producerIndex(graph)),
        uses_(ir::useCounts(graph)),
        isOutput_(graph.valueCount(), false) {
    for (const ir::GraphOutput& output : graph.outputs()) isOutput_[output.value] = true;
  }

  /// The op producing `value` if it is of `kind`, else nullptr.
  const ir::Op* producer(ir::ValueId value, ir::OpKind kind) const {
    if (value < 0 || value >= static_cast<ir::ValueId>(producers_.size())) return nullptr;
    int32_t index = producers_[value];
    if (index < 0 || graph_.ops()[index].kind != kind) return nullptr;
    return &graph_.ops()[index];
  }
  const ir::Op* producer(ir::ValueId value) const {
    if (value < 0 || value >= static_cast<ir::ValueId>(producers_.size())) return nullptr;
    return producers_[value] < 0 ? nullptr : &graph_.ops()[producers_[value]];
  }
  /// Uses by ops and graph outputs.
  int32_t uses(ir::ValueId value) const { return uses_[value]; }
  bool isOutput(ir::ValueId value) const { return isOutput_[value]; }
  /// Why `value` cannot disappear into a fusion ("" if it can: one use, by an op).
  std::string whyShared(ir::ValueId value) const {
    if (isOutput_[value]) return "is a graph output";
    return uses_[value] > 1 ? "has several users" : "";
  }

 private:
  const ir::Graph& graph_;
  std::vector<int32_t> producers_;
  std::vector<int32_t> uses_;
  std::vector<bool> isOutput_;
};

/// Ends a rewrite that appended ops: puts them in order and drops what they replaced. Returns
/// `changed`, for `return finishRewrite(...)`.
inline bool finishRewrite(ir::Graph& graph, const PassOptions& options, bool changed) {
  if (!changed) return false;
  ir::reorderTopologically(graph);
  eliminateDeadCode(graph, options);
  return true;
}

/// The activation a fused op applies for an op of `kind`, if it is one.
inline std::optional<ir::Activation> activationOf(ir::OpKind kind) {
  switch (kind) {
    case ir::OpKind::Sigmoid: return ir::Activation::Sigmoid;
    case ir::OpKind::HardSigmoid: return ir::Activation::HardSigmoid;
    case ir::OpKind::Tanh: return ir::Activation::Tanh;
    case ir::OpKind::Relu: return ir::Activation::Relu;
    default: return std::nullopt;
  }
}

/// Says, at -v, what a pass decided and why.
template <typename... Args>
void explainDecision(const PassOptions& options, const char* pass,
                     fmt::format_string<Args...> format, Args&&... args) {
  if (!options.verbose || !options.log) return;
  fmt::print(*options.log, "pass {}: {}\n", pass, fmt::format(format, std::forward<Args>(args)...));
}

/// Says, at -v, why a pass left something alone.
template <typename... Args>
void explainRefusal(const PassOptions& options, const char* pass,
                    fmt::format_string<Args...> format, Args&&... args) {
  explainDecision(options, pass, "not fused: {}", fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace dlc::passes
