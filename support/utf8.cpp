#include "support/utf8.h"

namespace dlc {

size_t decodeUtf8(std::string_view text, size_t position, char32_t& codePoint) {
  auto byteAt = [&](size_t index) { return static_cast<unsigned char>(text[index]); };
  unsigned char lead = byteAt(position);
  size_t length;
  char32_t minimum;
  if (lead < 0x80) {
    codePoint = lead;
    return 1;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2, minimum = 0x80, codePoint = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, minimum = 0x800, codePoint = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, minimum = 0x10000, codePoint = lead & 0x07;
  } else {
    return 0;
  }
  if (position + length > text.size()) return 0;

  for (size_t offset = 1; offset < length; ++offset) {
    unsigned char continuation = byteAt(position + offset);
    if ((continuation & 0xC0) != 0x80) return 0;
    codePoint = (codePoint << 6) | (continuation & 0x3F);
  }

  // Overlong encodings, UTF-16 surrogates and values past U+10FFFF are not valid UTF-8.
  bool isSurrogate = codePoint >= 0xD800 && codePoint <= 0xDFFF;
  if (codePoint < minimum || isSurrogate || codePoint > 0x10FFFF) return 0;
  return length;
}

void appendUtf8(std::string& out, char32_t codePoint) {
  if (codePoint < 0x80) {
    out += static_cast<char>(codePoint);
  } else if (codePoint < 0x800) {
    out += static_cast<char>(0xC0 | (codePoint >> 6));
    out += static_cast<char>(0x80 | (codePoint & 0x3F));
  } else if (codePoint < 0x10000) {
    out += static_cast<char>(0xE0 | (codePoint >> 12));
    out += static_cast<char>(0x80 | ((codePoint >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (codePoint & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (codePoint >> 18));
    out += static_cast<char>(0x80 | ((codePoint >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((codePoint >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (codePoint & 0x3F));
  }
}

std::optional<size_t> firstInvalidUtf8(std::string_view text) {
  char32_t codePoint;
  for (size_t position = 0; position < text.size();) {
    size_t length = decodeUtf8(text, position, codePoint);
    if (length == 0) return position;
    position += length;
  }
  return std::nullopt;
}

}  // namespace dlc
