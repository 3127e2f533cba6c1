// Native code for IR graphs: every op becomes an LLVM IR kernel (loops over its static shapes,
// vectorized for the host CPU), an entry function calls them in order on buffers placed by the
// memory plan, and LLVM's ORC JIT compiles it. Only this folder includes LLVM headers.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "codegen/memory_plan.h"
#include "ir/graph.h"

namespace dlc::codegen {

struct JitOptions {
  /// Reuse arena bytes between buffers whose lifetimes do not overlap.
  bool reuseMemory = true;
  /// Keep the optimized LLVM IR and the assembly as text (for --emit).
  bool keepText = false;
  /// Matrix products in generated tiled kernels where they apply; false: all through BLAS.
  bool tiledMatMul = true;
  /// Time every op of every run into the process-wide opProfile() (a diagnostic: one
  /// profiled graph at a time, one calling thread; CPU time of that thread).
  bool profile = false;
};

/// CPU seconds of the calling thread in each op (by index in the graph) of profiled runs since
/// the last reset.
std::vector<double>& opProfile();

/// Whether executors fill their arena with NaNs before every run, so that a kernel reading a
/// reused buffer before writing it shows up as NaNs: on in debug builds, and when the
/// environment variable DLC_POISON_ARENA is set.
bool poisonArenaByDefault();

class CompiledGraph {
 public:
  /// Compiles `graph` for this machine's CPU; throws dlc::Error if LLVM fails.
  static std::unique_ptr<CompiledGraph> compile(const ir::Graph& graph, const JitOptions& options);

  /// Links object code that `compile` made earlier (objectCode()) for the same graph and plan,
  /// without compiling again. Throws dlc::Error if the plan does not fit the graph or the object
  /// code cannot be linked.
  static std::unique_ptr<CompiledGraph> load(const ir::Graph& graph, MemoryPlan plan,
                                             const std::string& objectCode);
  ~CompiledGraph();

  const MemoryPlan& memoryPlan() const;
  /// The inputs, weights and state that `run` takes pointers to, in order.
  const std::vector<ir::ValueId>& externalValues() const;

  /// Runs the graph once. `arena` holds memoryPlan().arenaBytes bytes, 64-byte aligned;
  /// `externals[k]` points to the data of externalValues()[k]. bindWeights must have run since
  /// the weights last changed.
  void run(std::byte* arena, void* const* externals) const;
  /// Runs the ops on weights alone (ir::weightOnlyOps), whose results `run` reads from the
  /// arena's first memoryPlan().persistentBytes bytes.
  void bindWeights(std::byte* arena, void* const* externals) const;

  /// The optimized LLVM IR and the host assembly (with JitOptions::keepText).
  const std::string& llvmIr() const;
  const std::string& assembly() const;
  /// The relocatable object file holding the entry `dlc_graph` and its kernels.
  const std::string& objectCode() const;
  /// Seconds spent generating and compiling (or, for `load`, linking).
  double compileSeconds() const;

 private:
  struct Impl;
  explicit CompiledGraph(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Threads the generated kernels share their work out over (codegen/thread_pool.h).
void setThreadCount(int threads);

/// The host CPU as LLVM names it, with its features ("znver4 +avx2,+avx512f,...").
std::string hostCpuDescription();

}  // namespace dlc::codegen
