// The compiled graph loader up to linking: identifier, verifier, version, the model it carries
// (inputs are sealed again: fuzz/reseal.h), and the memory plan against the graph that model
// lowers to. Linking the object code is left out: it is native code, trusted once its checksum
// matches.
#include "codegen/memory_plan.h"
#include "frontend/lowering.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/reseal.h"
#include "passes/pass.h"
#include "runtime/compiled_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return dlc::fuzz::runInput(data, size, [](std::span<const std::byte> input) {
    std::vector<std::byte> bytes(input.begin(), input.end());
    dlc::fuzz::resealCompiledGraph(bytes);
    dlc::CompiledGraphFile file = dlc::parseCompiledGraph(bytes, "fuzz.dlc");
    dlc::ir::Graph graph =
        dlc::lowerModel(file.model, file.analysis, {file.batchSize, file.training});
    dlc::passes::PassOptions options;
    options.training = file.training;
    options.disabled = file.disabledPasses;
    dlc::passes::runPipeline(graph, options);
    if (static_cast<int32_t>(file.memoryPlan.offsets.size()) == graph.valueCount())
      dlc::codegen::verifyMemoryPlan(graph, file.memoryPlan);
  });
}
