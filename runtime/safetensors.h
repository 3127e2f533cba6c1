// The safetensors format: an 8-byte little-endian header length, a JSON header giving each
// tensor's dtype, shape and byte range, then the raw little-endian data.
#pragma once

#include <string>

#include "support/tensor.h"

namespace dlc {

/// Reads F32 and I32 tensors; any other dtype, a header that does not parse, or byte ranges
/// that do not fit the file are a dlc::Error naming the path.
TensorMap readSafetensors(const std::string& path);
TensorMap parseSafetensors(std::span<const std::byte> contents, const std::string& source);

/// Writes atomically (temporary file, then rename).
void writeSafetensors(const std::string& path, const TensorMap& tensors);

}  // namespace dlc
