#include "runtime/tokenizer.h"

#include <locale.h>
#include <wctype.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "support/error.h"
#include "support/utf8.h"

namespace dlc {
namespace {

constexpr char32_t kCapitalIWithDotAbove = 0x130;

// Python's str.lower() knows all of Unicode; towlower_l needs a UTF-8 locale to do the same.
// The locale is made once and kept for the life of the process. Null if the system lacks it.
locale_t utf8Locale() {
  static const locale_t locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  return locale;
}

char32_t lowerCodePoint(char32_t codePoint) {
  if (codePoint < 0x80) {
    return codePoint >= 'A' && codePoint <= 'Z' ? codePoint + ('a' - 'A') : codePoint;
  }
  locale_t locale = utf8Locale();
  if (locale == static_cast<locale_t>(0)) return codePoint;
  return static_cast<char32_t>(towlower_l(static_cast<wint_t>(codePoint), locale));
}

/// Calls `visit` with each non-empty piece of `text` between occurrences of `separator`, like
/// Python's `[w for w in text.split(separator) if w]`.
template <typename Visit>
void forEachWord(std::string_view text, std::string_view separator, Visit&& visit) {
  size_t start = 0;
  while (true) {
    size_t end = text.find(separator, start);
    std::string_view word = text.substr(start, end == std::string_view::npos ? end : end - start);
    if (!word.empty()) visit(word);
    if (end == std::string_view::npos) break;
    start = end + separator.size();
  }
}

}  // namespace

Tokenizer::Tokenizer(TokenizerConfig config) : config_(std::move(config)) {
  // Python's str.split("") raises, and a negative num_words would silently drop every word.
  if (config_.split.empty()) fail("tokenizer: the split separator must not be empty");
  if (config_.numWords < 0) fail("tokenizer: numWords must be >= 0, got {}", config_.numWords);

  std::string_view filters = config_.filters;
  for (size_t position = 0; position < filters.size();) {
    char32_t codePoint;
    size_t length = decodeUtf8(filters, position, codePoint);
    if (length == 0) fail("tokenizer: the filters are not valid UTF-8 (byte {})", position);
    if (codePoint < 0x80) {
      asciiFilters_[codePoint] = true;
    } else {
      otherFilters_.push_back(codePoint);
    }
    position += length;
  }
  rebuildWordIndex();
}

void Tokenizer::fitOnTexts(const std::vector<std::string>& texts) {
  if (!hasCounts_) {
    throw std::logic_error(
        "Tokenizer::fitOnTexts: a tokenizer rebuilt from a vocabulary has no "
        "word counts to add to");
  }

  for (const std::string& text : texts) {
    forEachWord(normalize(text), config_.split, [&](std::string_view word) {
      auto found = countPosition_.find(word);
      if (found != countPosition_.end()) {
        ++wordCounts_[found->second].second;
        return;
      }
      countPosition_.emplace(std::string(word), wordCounts_.size());
      wordCounts_.emplace_back(std::string(word), 1);
    });
  }

  rebuildVocabulary();
}

Tokenizer Tokenizer::fromVocabulary(TokenizerConfig config, std::vector<std::string> vocabulary) {
  Tokenizer tokenizer(std::move(config));
  tokenizer.hasCounts_ = false;
  tokenizer.vocabulary_ = std::move(vocabulary);
  tokenizer.rebuildWordIndex();

  const std::string& oovToken = tokenizer.config_.oovToken;
  if (!oovToken.empty() && tokenizer.oovId_ == 0) {
    fail("tokenizer: the vocabulary has no entry for the OOV token '{}'", oovToken);
  }
  return tokenizer;
}

const std::vector<std::string>& Tokenizer::vocabulary() const { return vocabulary_; }

const TokenizerConfig& Tokenizer::config() const { return config_; }

std::vector<std::string> Tokenizer::textToWordSequence(std::string_view text) const {
  std::vector<std::string> words;
  forEachWord(normalize(text), config_.split,
              [&](std::string_view word) { words.emplace_back(word); });
  return words;
}

std::vector<int32_t> Tokenizer::textToSequence(std::string_view text) const {
  std::vector<int32_t> ids;
  forEachWord(normalize(text), config_.split, [&](std::string_view word) {
    auto found = wordIndex_.find(word);
    if (found == wordIndex_.end()) {
      if (oovId_ != 0) ids.push_back(oovId_);
      return;
    }

    // Keras keeps ids 1 .. num_words - 1: num_words counts the padding id 0 as one of the words.
    int32_t id = found->second;
    bool beyondLimit = config_.numWords > 0 && id >= config_.numWords;
    if (!beyondLimit) {
      ids.push_back(id);
    } else if (oovId_ != 0) {
      ids.push_back(oovId_);
    }
  });
  return ids;
}

std::string Tokenizer::normalize(std::string_view text) const {
  std::string normalized;
  normalized.reserve(text.size() + text.size() / 8);

  for (size_t position = 0; position < text.size();) {
    char32_t codePoint;
    size_t length = decodeUtf8(text, position, codePoint);

    // A byte that is not part of well-formed UTF-8 becomes U+FFFD, as Python decodes with
    // errors="replace", so that every word of a vocabulary is valid UTF-8 (the model format's
    // strings must be). Python gives one U+FFFD for a truncated sequence; this, one per byte.
    if (length == 0) {
      normalized += kReplacementCharacter;
      ++position;
      continue;
    }
    position += length;

    // Python's only unconditional one-to-many lowercase mapping: 'İ' becomes 'i' and a
    // combining dot above, which towlower cannot return.
    if (config_.lower && codePoint == kCapitalIWithDotAbove) {
      normalized += "i\u0307";
      continue;
    }

    // Lowercase first, as Keras does, so a filter is matched against the lowercased character.
    if (config_.lower) codePoint = lowerCodePoint(codePoint);
    if (isFilter(codePoint)) {
      normalized += config_.split;
    } else {
      appendUtf8(normalized, codePoint);
    }
  }
  return normalized;
}

bool Tokenizer::isFilter(char32_t codePoint) const {
  if (codePoint < 0x80) return asciiFilters_[codePoint];
  return std::find(otherFilters_.begin(), otherFilters_.end(), codePoint) != otherFilters_.end();
}

void Tokenizer::rebuildVocabulary() {
  // Python's sort(reverse=True) is stable: words with equal counts keep first-appearance order.
  std::vector<size_t> order(wordCounts_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t left, size_t right) {
    return wordCounts_[left].second > wordCounts_[right].second;
  });

  vocabulary_.clear();
  vocabulary_.reserve(order.size() + 1);
  if (!config_.oovToken.empty()) vocabulary_.push_back(config_.oovToken);
  for (size_t position : order) vocabulary_.push_back(wordCounts_[position].first);

  rebuildWordIndex();
}

void Tokenizer::rebuildWordIndex() {
  // Keras builds word_index with dict(zip(...)): if the OOV token also occurs as a word in the
  // texts, its later id wins, and texts_to_sequences uses that id for unknown words too.
  wordIndex_.clear();
  wordIndex_.reserve(vocabulary_.size());
  for (size_t position = 0; position < vocabulary_.size(); ++position) {
    wordIndex_.insert_or_assign(vocabulary_[position], static_cast<int32_t>(position + 1));
  }

  oovId_ = 0;
  if (!config_.oovToken.empty()) {
    auto found = wordIndex_.find(std::string_view(config_.oovToken));
    if (found != wordIndex_.end()) oovId_ = found->second;
  }
}

std::vector<int32_t> padSequence(const std::vector<int32_t>& sequence, const PadConfig& config) {
  if (config.maxLength < 0) fail("pad_sequences: maxLength must be >= 0, got {}", config.maxLength);

  size_t rowLength = static_cast<size_t>(config.maxLength);
  std::vector<int32_t> row(rowLength, config.value);
  size_t keptLength = std::min(sequence.size(), rowLength);

  // Pre-truncation keeps the end of the sequence; post-truncation keeps its beginning.
  auto keptBegin =
      config.truncating == PadSide::Pre ? sequence.end() - keptLength : sequence.begin();

  // Pre-padding puts the padding value first, so the ids end the row.
  auto destination = config.padding == PadSide::Pre ? row.end() - keptLength : row.begin();
  std::copy(keptBegin, keptBegin + keptLength, destination);
  return row;
}

}  // namespace dlc
