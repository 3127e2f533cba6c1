// The memory plan: every op result lives in one arena, and buffers whose lifetimes do not
// overlap share its bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"

namespace dlc::codegen {

struct MemoryPlan {
  /// Byte offset of each result in the arena, by value id; -1 for values outside the arena
  /// (inputs, weights, state).
  std::vector<int64_t> offsets;
  int64_t arenaBytes = 0;
  /// The arena's first bytes hold the results of ops on weights alone (ir::weightOnlyOps):
  /// computed when weights are bound and kept across runs, so executors must not poison them.
  int64_t persistentBytes = 0;

  /// Without reuse every result has bytes of its own (to compare against planning).
  bool reuse = true;
};

/// Buffers are aligned to 64 bytes, live from the op that defines them to the last op that
/// reads them (graph outputs to the end), and placed first-fit below the others. Results of ops
/// on weights alone come first and live for ever. With reuse, a reshape of a result, and a
/// slice that is one aligned contiguous block of it, are views: they take bytes of their
/// operand (their kernels do nothing), which live as long as any of them.
MemoryPlan planMemory(const ir::Graph& graph, bool reuse = true);

/// Whether `op` is a reshape or slice that the plan made a view of its operand.
bool isView(const ir::Graph& graph, const ir::Op& op, const MemoryPlan& plan);

/// Throws dlc::Error if two buffers that are live at the same time overlap, or a buffer leaves
/// the arena.
void verifyMemoryPlan(const ir::Graph& graph, const MemoryPlan& plan);

/// The op index from which each value is live, and the last at which it is, by value id
/// (-1, -1 for values that are not results; 0 and the largest int for results of ops on weights
/// alone).
struct Lifetimes {
  std::vector<int32_t> first, last;
};
Lifetimes computeLifetimes(const ir::Graph& graph);

/// The end of the persistent results of a plan made for `graph` (MemoryPlan::persistentBytes),
/// for plans read back from a file.
int64_t persistentBytes(const ir::Graph& graph, const MemoryPlan& plan);

}  // namespace dlc::codegen
