// The `checksum` field of a FlatBuffers file's root table (Model, CompiledGraph): a CRC-32 of the
// whole buffer with the field's own four bytes read as zeros. Files written before the field
// existed do not store it and load unchecked.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>

#include "support/checksum.h"
#include "support/error.h"

namespace dlc::schema {

/// Where the root table stores the scalar field `field` (its VT_ constant) in a buffer that the
/// FlatBuffers verifier accepted; nullopt if the buffer does not store it.
inline std::optional<size_t> rootFieldPosition(std::span<const std::byte> buffer,
                                               flatbuffers::voffset_t field) {
  const auto* start = reinterpret_cast<const uint8_t*>(buffer.data());
  const auto* table = flatbuffers::GetRoot<flatbuffers::Table>(start);
  flatbuffers::voffset_t offset = table->GetOptionalFieldOffset(field);
  if (offset == 0) return std::nullopt;
  return static_cast<size_t>(reinterpret_cast<const uint8_t*>(table) + offset - start);
}

/// Writes the checksum of a finished buffer into its checksum field, which the builder must have
/// stored (with ForceDefaults, as its value is zero until now).
inline void sealChecksum(std::span<std::byte> buffer, flatbuffers::voffset_t field) {
  std::optional<size_t> position = rootFieldPosition(buffer, field);
  if (!position) fail("internal error: the buffer has no checksum field to seal");
  uint32_t checksum = crc32WithHole(buffer, *position);
  flatbuffers::WriteScalar(reinterpret_cast<uint8_t*>(buffer.data()) + *position, checksum);
}

/// Throws dlc::Error naming `source` unless the stored checksum matches the buffer; a buffer
/// without a checksum field (written by an older dlc) passes.
inline void verifyChecksum(std::span<const std::byte> buffer, flatbuffers::voffset_t field,
                           const std::string& source) {
  std::optional<size_t> position = rootFieldPosition(buffer, field);
  if (!position) return;
  auto stored = flatbuffers::ReadScalar<uint32_t>(reinterpret_cast<const uint8_t*>(buffer.data()) +
                                                  *position);
  uint32_t computed = crc32WithHole(buffer, *position);
  if (stored != computed)
    fail("{}: the file is corrupt: its checksum is {}, its contents give {}", source,
         formatChecksum(stored), formatChecksum(computed));
}

}  // namespace dlc::schema
