// UTF-8, as the model format stores every string and as the tokenizer reads text.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dlc {

/// U+FFFD, what Python's errors="replace" puts where bytes are not UTF-8.
inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

/// The length of the well-formed UTF-8 sequence at text[position] and its code point in
/// `codePoint`; 0 if the bytes there are not well-formed UTF-8 (overlong forms, surrogates and
/// values past U+10FFFF included).
size_t decodeUtf8(std::string_view text, size_t position, char32_t& codePoint);

/// Appends the UTF-8 form of `codePoint` (at most U+10FFFF) to `out`.
void appendUtf8(std::string& out, char32_t codePoint);

/// The offset of the first byte of `text` that is not part of well-formed UTF-8; none if all is.
std::optional<size_t> firstInvalidUtf8(std::string_view text);

}  // namespace dlc
