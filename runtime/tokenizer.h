// Text to token ids exactly as Keras 2's `Tokenizer` and `pad_sequences` (keras-preprocessing)
// make them, so that a model trained in Keras sees the same ids when it runs here.
//
// Known difference: Python's str.lower() applies the Greek final sigma rule ('Σ' at the end of a
// word becomes 'ς'); towlower maps 'Σ' to 'σ' everywhere, so such words get other ids.
// Not supported: character-level tokenizing (`char_level=True`), `document_count`, `word_docs`.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dlc {

/// The characters Keras removes from text by default (its `filters` argument).
inline constexpr const char* kKerasFilters = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n";

/// The arguments of Keras's `Tokenizer(...)` that change which ids a text gets.
struct TokenizerConfig {
  /// Only words with an id below this are kept (Keras `num_words`); 0 keeps all.
  int numWords = 0;
  /// Characters (UTF-8, matched per code point) that are replaced by `split` before splitting.
  std::string filters = kKerasFilters;
  /// Lowercase the text first (Unicode-aware).
  bool lower = true;
  /// The separator between words; must not be empty.
  std::string split = " ";
  /// The word that stands for unknown words (Keras `oov_token`); empty means none.
  std::string oovToken{};
};

/// Keras's `Tokenizer`: learns a vocabulary ranked by word frequency and maps texts to ids.
class Tokenizer {
 public:
  /// An empty tokenizer; an Error if `config` is one Keras would reject (empty `split`,
  /// negative `numWords`).
  explicit Tokenizer(TokenizerConfig config = {});

  /// Counts words like Keras's fit_on_texts; may be called several times (counts accumulate).
  void fitOnTexts(const std::vector<std::string>& texts);

  /// Rebuilds a fitted tokenizer from a saved vocabulary (vocabulary[0] has id 1). An Error if an
  /// OOV token is configured but missing from the vocabulary. Such a tokenizer has no word counts,
  /// so it cannot be fitted further.
  static Tokenizer fromVocabulary(TokenizerConfig config, std::vector<std::string> vocabulary);

  /// Words by rank: vocabulary()[0] has id 1 (Keras word_index), including the OOV token if set.
  const std::vector<std::string>& vocabulary() const;

  const TokenizerConfig& config() const;

  /// Keras's text_to_word_sequence with this tokenizer's filters, lowercasing and split.
  std::vector<std::string> textToWordSequence(std::string_view text) const;

  /// Keras's texts_to_sequences for one text: known words become their ids; unknown words and
  /// words ranked at or beyond `numWords` are dropped, or become the OOV id if there is one.
  std::vector<int32_t> textToSequence(std::string_view text) const;

 private:
  // Lets the word index be searched with a string_view, without building a std::string per word.
  struct WordHash {
    using is_transparent = void;
    size_t operator()(std::string_view word) const { return std::hash<std::string_view>{}(word); }
  };
  using WordIndex = std::unordered_map<std::string, int32_t, WordHash, std::equal_to<>>;

  /// The text lowercased (if configured) with every filter character replaced by `split`, and
  /// each byte that is not part of well-formed UTF-8 by U+FFFD.
  std::string normalize(std::string_view text) const;
  bool isFilter(char32_t codePoint) const;
  void rebuildVocabulary();
  void rebuildWordIndex();

  TokenizerConfig config_;

  // The filters split by code point: a table for ASCII (the common case) and a list for the rest.
  std::array<bool, 128> asciiFilters_{};
  std::vector<char32_t> otherFilters_;

  // Word counts in order of first appearance, as Keras's OrderedDict keeps them; the stable sort
  // by count relies on this order to break ties.
  std::vector<std::pair<std::string, int64_t>> wordCounts_;
  std::unordered_map<std::string, size_t, WordHash, std::equal_to<>> countPosition_;
  bool hasCounts_ = true;

  std::vector<std::string> vocabulary_;
  WordIndex wordIndex_;
  int32_t oovId_ = 0;  // 0: no OOV token, so unknown words are dropped
};

/// Which end of a sequence `pad_sequences` pads or truncates.
enum class PadSide { Pre, Post };

/// The arguments of Keras's `pad_sequences` (its defaults: pre-padding, pre-truncation, value 0).
struct PadConfig {
  int maxLength = 0;
  PadSide padding = PadSide::Pre;
  PadSide truncating = PadSide::Pre;
  int32_t value = 0;
};

/// One row of exactly maxLength ids, as pad_sequences makes it.
std::vector<int32_t> padSequence(const std::vector<int32_t>& sequence, const PadConfig& config);

}  // namespace dlc
