// The threads that generated kernels split their work over: the calling thread and
// (threads - 1) workers, which spin briefly between kernels and then sleep.
#pragma once

#include <cstdint>

namespace dlc::codegen {

/// Sets how many threads (the caller included) kernels use; 1 runs every kernel inline.
void setPoolThreads(int threads);
int poolThreads();

}  // namespace dlc::codegen

/// What a parallel kernel runs for each part: its arguments, then which part of how many.
using DlcPartFunction = void (*)(void* context, int64_t part, int64_t parts);

/// Runs body(context, p, parts) for p in [0, parts), parts = min(units, threads), on the pool,
/// and returns when all are done. Called by generated code.
extern "C" void dlc_parallel_for(DlcPartFunction body, void* context, int64_t units);
