// The tokenizer: the first line of the input configures it (filters, split, oov token, lower,
// num_words), the rest is text to fit on, tokenize, rebuild from the vocabulary and pad.
#include "fuzz/fuzz_support.h"
#include "runtime/tokenizer.h"

namespace {

/// Field `index` of a line split at '\x01' (the configuration line), or "" if it has fewer.
std::string field(std::string_view line, int index) {
  for (int i = 0; i < index; ++i) {
    size_t next = line.find('\x01');
    if (next == std::string_view::npos) return "";
    line.remove_prefix(next + 1);
  }
  return std::string(line.substr(0, line.find('\x01')));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return dlc::fuzz::runInput(data, size, [](std::span<const std::byte> bytes) {
    std::string_view text = dlc::fuzz::asText(bytes);
    size_t lineEnd = text.find('\n');
    std::string_view configuration = text.substr(0, lineEnd);
    std::string_view body = lineEnd == std::string_view::npos ? "" : text.substr(lineEnd + 1);

    dlc::TokenizerConfig config;
    std::string numWords = field(configuration, 0);
    config.numWords = numWords.empty() ? 0 : static_cast<signed char>(numWords[0]);
    config.lower = field(configuration, 1) != "0";
    if (std::string filters = field(configuration, 2); !filters.empty()) config.filters = filters;
    if (std::string split = field(configuration, 3); !split.empty()) config.split = split;
    config.oovToken = field(configuration, 4);

    std::vector<std::string> texts;
    for (size_t start = 0; start <= body.size();) {
      size_t end = std::min(body.find('\n', start), body.size());
      texts.emplace_back(body.substr(start, end - start));
      start = end + 1;
    }

    dlc::Tokenizer tokenizer(config);
    tokenizer.fitOnTexts(texts);
    dlc::Tokenizer rebuilt = dlc::Tokenizer::fromVocabulary(config, tokenizer.vocabulary());
    dlc::PadConfig padding{static_cast<int>(body.size() % 7), dlc::PadSide::Post, dlc::PadSide::Pre,
                           0};
    for (const std::string& line : texts) {
      if (tokenizer.textToSequence(line) != rebuilt.textToSequence(line)) __builtin_trap();
      dlc::padSequence(rebuilt.textToSequence(line), padding);
    }
  });
}
