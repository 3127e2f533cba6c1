// What the benchmarks share: small graphs on either executor, and the example model.
#pragma once

#include <benchmark/benchmark.h>

#include <memory>
#include <random>

#include "ir/graph.h"
#include "runtime/jit_executor.h"
#include "runtime/reference_executor.h"

namespace dlc::bench {

/// The JIT, the JIT with every matrix product through BLAS, or the reference executor.
enum ExecutorChoice : int64_t { kJit = 0, kReference = 1, kJitBlas = 2 };

inline codegen::JitOptions jitOptions(int64_t choice) {
  codegen::JitOptions options;
  options.tiledMatMul = choice != kJitBlas;
  return options;
}

inline std::unique_ptr<Executor> makeExecutor(const ir::Graph& graph, int64_t choice) {
  if (choice == kReference) return std::make_unique<ReferenceExecutor<float>>(graph);
  return std::make_unique<JitExecutor>(graph, jitOptions(choice));
}

inline Tensor randomFloats(const Shape& shape, uint64_t seed, float scale = 0.1f) {
  std::mt19937_64 generator(seed);
  std::uniform_real_distribution<float> uniform(-scale, scale);
  Tensor tensor(DType::Float32, shape);
  for (float& value : tensor.data<float>()) value = uniform(generator);
  return tensor;
}

inline Tensor randomIds(const Shape& shape, int32_t rows, uint64_t seed) {
  std::mt19937_64 generator(seed);
  Tensor tensor(DType::Int32, shape);
  for (int32_t& id : tensor.data<int32_t>()) id = static_cast<int32_t>(generator() % rows);
  return tensor;
}

/// Gives every weight and state of the graph random values.
inline void randomizeWeights(const ir::Graph& graph, Executor& executor) {
  uint64_t seed = 1;
  for (ir::ValueKind kind : {ir::ValueKind::Weight, ir::ValueKind::State})
    for (ir::ValueId id : graph.valuesOfKind(kind))
      executor.setTensor(graph.value(id).name, randomFloats(graph.type(id).shape, seed++));
}

inline const char* executorName(int64_t choice) {
  return choice == kJit ? "jit" : choice == kJitBlas ? "jit, blas" : "reference";
}

}  // namespace dlc::bench
