#include "support/checksum.h"

#include <fmt/format.h>
#include <zlib.h>

#include <array>
#include <cassert>

namespace dlc {

void Crc32::update(std::span<const std::byte> bytes) {
  // crc32_z takes the length as a size_t, so buffers beyond 4 GiB need no splitting.
  value_ = static_cast<uint32_t>(
      crc32_z(value_, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

void Crc32::update(std::string_view text) {
  update(std::as_bytes(std::span(text.data(), text.size())));
}

uint32_t crc32WithHole(std::span<const std::byte> bytes, size_t hole) {
  assert(hole + 4 <= bytes.size());
  constexpr std::array<std::byte, 4> kZeros{};
  Crc32 crc;
  crc.update(bytes.first(hole));
  crc.update(kZeros);
  crc.update(bytes.subspan(hole + 4));
  return crc.value();
}

std::string formatChecksum(uint32_t checksum) { return fmt::format("{:#010x}", checksum); }

}  // namespace dlc
