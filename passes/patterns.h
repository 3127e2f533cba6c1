// Small helpers for passes that match patterns of ops.
#pragma once

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <ostream>
#include <string>

#include "ir/graph.h"
#include "passes/pass.h"

namespace dlc::passes {

/// What a pattern-matching pass knows about the graph as it was when the pass started.
class GraphIndex {
 public:
  explicit GraphIndex(const ir::Graph& graph)
      : graph_(graph), producers_(ir::producerIndex(graph)), uses_(ir::useCounts(graph)) {}

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

 private:
  const ir::Graph& graph_;
  std::vector<int32_t> producers_;
  std::vector<int32_t> uses_;
};

/// Says, at -v, why a pass left something alone.
template <typename... Args>
void explainRefusal(const PassOptions& options, const char* pass,
                    fmt::format_string<Args...> format, Args&&... args) {
  if (!options.verbose || !options.log) return;
  fmt::print(*options.log, "pass {}: not fused: {}\n", pass,
             fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace dlc::passes
