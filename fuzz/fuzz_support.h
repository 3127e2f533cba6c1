// What the fuzz targets share: bad input may throw dlc::Error (the one clear line a user sees);
// anything else, a crash, a sanitizer report, a hang or a huge allocation, is a bug.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "support/error.h"
#include "support/memory_limit.h"

namespace dlc::fuzz {

/// Small enough that libFuzzer's own memory limit never fires first: a model declaring more is
/// refused by the limit check, which is what the targets exercise.
inline constexpr int64_t kFuzzMemoryLimit = int64_t{64} << 20;

/// Runs `body` on the input, taking dlc::Error as the expected outcome of bad input.
template <typename Body>
int runInput(const uint8_t* data, size_t size, Body&& body) {
  setMemoryLimit(kFuzzMemoryLimit);
  try {
    body(std::as_bytes(std::span(data, size)));
  } catch (const Error&) {
  }
  return 0;
}

inline std::string_view asText(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace dlc::fuzz
