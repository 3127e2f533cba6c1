// The safetensors reader: header length, JSON header, dtypes, shapes, offsets, checksum.
#include "fuzz/fuzz_support.h"
#include "runtime/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return dlc::fuzz::runInput(data, size, [](std::span<const std::byte> bytes) {
    dlc::parseSafetensors(bytes, "fuzz.safetensors");
  });
}
