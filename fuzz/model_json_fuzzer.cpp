// The model loader on the JSON form (FlatBuffers' JSON parser with the embedded schema), then
// validation and everything that follows loading.
#include "frontend/model_io.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/model_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return dlc::fuzz::runInput(data, size, [](std::span<const std::byte> bytes) {
    dlc::fuzz::useModel(dlc::parseModel(bytes, "fuzz.json"), "fuzz.json");
  });
}
