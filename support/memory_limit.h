// The memory limit: a model or file whose declared sizes would need more than this is refused
// before anything is allocated, with the figure, instead of failing (or thrashing) halfway.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "support/tensor.h"

namespace dlc {

/// The limit in bytes: DLC_MEMORY_LIMIT if set (bytes, or with a K, M, G or T suffix, powers of
/// 1024), else the machine's physical memory.
int64_t memoryLimit();

/// Overrides the limit for this process (dlc --memory-limit); 0 goes back to the default.
void setMemoryLimit(int64_t bytes);

/// Parses "8G", "512M", "1048576"; nullopt if it is not such a size.
std::optional<int64_t> parseByteSize(const std::string& text);

/// "1.5 GiB", "320 KiB", "12 B".
std::string formatBytes(int64_t bytes);

/// The bytes of a tensor of this shape and dtype; nullopt if a size is negative or the product
/// does not fit in 63 bits.
std::optional<int64_t> tensorBytes(const Shape& shape, DType dtype);

/// Adds without overflowing: a sum beyond 63 bits saturates at INT64_MAX.
int64_t saturatingAdd(int64_t a, int64_t b);

/// Throws dlc::Error "<what> would need <bytes>, more than the memory limit of <limit> (set
/// DLC_MEMORY_LIMIT or --memory-limit to change it)" if `bytes` (nullopt: beyond 63 bits) is
/// over the limit.
void checkMemory(std::optional<int64_t> bytes, const std::string& what);

}  // namespace dlc
