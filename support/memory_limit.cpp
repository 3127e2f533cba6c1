#include "support/memory_limit.h"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <limits>

#include "support/error.h"

namespace dlc {

namespace {

std::atomic<int64_t> overriddenLimit{0};

int64_t physicalMemory() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long pageSize = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || pageSize <= 0) return int64_t{16} << 30;  // unknown: assume 16 GiB
  return static_cast<int64_t>(pages) * pageSize;
}

}  // namespace

std::optional<int64_t> parseByteSize(const std::string& text) {
  constexpr std::string_view kSuffixes = "KMGT";
  if (text.empty()) return std::nullopt;
  size_t digits = text.find_first_not_of("0123456789");
  if (digits == 0) return std::nullopt;
  int shift = 0;
  if (digits != std::string::npos) {
    size_t suffix = kSuffixes.find(static_cast<char>(std::toupper(text[digits])));
    if (suffix == std::string_view::npos || digits + 1 != text.size()) return std::nullopt;
    shift = 10 * static_cast<int>(suffix + 1);
  }
  if (text.size() > 18) return std::nullopt;
  int64_t value = std::stoll(text.substr(0, digits));
  return checkedMultiply(value, int64_t{1} << shift);
}

int64_t memoryLimit() {
  if (int64_t overridden = overriddenLimit.load(); overridden > 0) return overridden;
  if (const char* text = std::getenv("DLC_MEMORY_LIMIT")) {
    std::optional<int64_t> bytes = parseByteSize(text);
    if (!bytes || *bytes <= 0)
      fail("DLC_MEMORY_LIMIT must be a size such as 8G, 512M or 1048576, got '{}'", text);
    return *bytes;
  }
  return physicalMemory();
}

void setMemoryLimit(int64_t bytes) { overriddenLimit.store(bytes); }

std::string formatBytes(int64_t bytes) {
  constexpr std::array kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::optional<int64_t> tensorBytes(const Shape& shape, DType dtype) {
  int64_t bytes = static_cast<int64_t>(dtypeSize(dtype));
  for (int64_t size : shape) {
    std::optional<int64_t> product = checkedMultiply(bytes, size);
    if (size < 0 || !product) return std::nullopt;
    bytes = *product;
  }
  return bytes;
}

int64_t saturatingAdd(int64_t a, int64_t b) {
  int64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<int64_t>::max() : sum;
}

void checkMemory(std::optional<int64_t> bytes, const std::string& what) {
  int64_t limit = memoryLimit();
  if (bytes && *bytes <= limit) return;
  fail(
      "{} would need {}, more than the memory limit of {} (set DLC_MEMORY_LIMIT or "
      "--memory-limit to change it)",
      what, bytes ? formatBytes(*bytes) : "more than 8 EiB", formatBytes(limit));
}

}  // namespace dlc
