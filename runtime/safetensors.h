// The safetensors format: an 8-byte little-endian header length, a JSON header giving each
// tensor's dtype, shape and byte range, then the raw little-endian data.
#pragma once

#include <string>

#include "support/tensor.h"

namespace dlc {

/// Reads F32 and I32 tensors; any other dtype, a header that does not parse, byte ranges that do
/// not fit the file, or a checksum that does not match are a dlc::Error naming the path. Files
/// without dlc's checksum (from other tools, or older dlc) load unchecked.
TensorMap readSafetensors(const std::string& path);
TensorMap parseSafetensors(std::span<const std::byte> contents, const std::string& source);

/// Writes atomically (temporary file, then rename), with a CRC-32 of the tensors in the header's
/// `__metadata__` ("dlc.crc32"), which other safetensors readers ignore.
void writeSafetensors(const std::string& path, const TensorMap& tensors);

}  // namespace dlc
