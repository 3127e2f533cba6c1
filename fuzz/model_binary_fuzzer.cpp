// The model loader on the binary (FlatBuffers) form: identifier, verifier, version, then
// validation and everything that follows loading (inputs are sealed again: fuzz/reseal.h).
#include "frontend/model_io.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/model_checks.h"
#include "fuzz/reseal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return dlc::fuzz::runInput(data, size, [](std::span<const std::byte> input) {
    std::vector<std::byte> bytes(input.begin(), input.end());
    dlc::fuzz::resealModel(bytes);
    dlc::fuzz::useModel(dlc::parseModel(bytes, "fuzz.fbs"), "fuzz.fbs");
  });
}
