// The Quora pair readers: the labelled TSV/CSV table (three dialects, quoting, CRLF) and the
// question1<TAB>question2 lines of `dlc predict --pairs`.
#include "fuzz/fuzz_support.h"
#include "runtime/quora_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return dlc::fuzz::runInput(data, size, [](std::span<const std::byte> bytes) {
    std::string_view text = dlc::fuzz::asText(bytes);
    try {
      dlc::parseQuoraPairs(text, "fuzz.tsv");
    } catch (const dlc::Error&) {
    }
    dlc::parsePairsToPredict(text, "fuzz.tsv");
  });
}
