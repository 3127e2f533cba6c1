// CRC-32 checksums of the files dlc writes, so that a reader notices a file that was damaged
// after it was written (a bad disk, a partial copy, a hand edit of a binary file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace dlc {

/// zlib's CRC-32 (the one gzip and PNG use), computed piece by piece.
class Crc32 {
 public:
  void update(std::span<const std::byte> bytes);
  void update(std::string_view text);
  uint32_t value() const { return value_; }

 private:
  uint32_t value_ = 0;
};

/// The CRC-32 of `bytes` with the four bytes at `hole` read as zeros: the checksum of a buffer
/// that stores its own checksum at `hole`.
uint32_t crc32WithHole(std::span<const std::byte> bytes, size_t hole);

/// "0x1234abcd", as error messages print checksums.
std::string formatChecksum(uint32_t checksum);

}  // namespace dlc
