// libFuzzer target for the API of `dlc serve` (serve/request_handler.h). An input is
// "METHOD\nPATH\nBODY"; one without two newlines is the body of POST /v1/predict. Whatever the
// bytes, the handler must answer with a status in 200..599 and, for JSON, a body that parses;
// a 200 from /v1/predict carries one probability per pair the model was asked for. It needs
// serve/request_handler.cpp and nlohmann-json only. By hand, from the repository root, build it
// with `clang++-14 -std=c++20 -O1 -g -I. -fsanitize=fuzzer,address,undefined` on this file and
// serve/request_handler.cpp, then run it on a copy of fuzz/corpus/serve_request (libFuzzer adds
// what it finds to the folder it is given).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "serve/request_handler.h"

namespace {

using dlc::serve::TextPair;

/// A model stand-in: every pair is a duplicate with probability 0.5.
class HalfPredictor : public dlc::serve::Predictor {
 public:
  std::vector<float> predict(const std::vector<TextPair>& pairs) override {
    askedFor = pairs.size();
    return std::vector<float>(pairs.size(), 0.5f);
  }
  nlohmann::json describe() const override { return {{"name", "fuzz"}}; }

  size_t askedFor = 0;
};

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  dlc::serve::HttpRequest request{"POST", "/v1/predict", input};
  size_t methodEnd = input.find('\n');
  size_t pathEnd = methodEnd == input.npos ? input.npos : input.find('\n', methodEnd + 1);
  if (pathEnd != input.npos)
    request = {input.substr(0, methodEnd), input.substr(methodEnd + 1, pathEnd - methodEnd - 1),
               input.substr(pathEnd + 1)};

  // Small limits, so that short inputs reach every refusal.
  HalfPredictor predictor;
  dlc::serve::ServiceContext context{
      predictor, {.maxBodyBytes = 4096, .maxPairs = 8, .maxQuestionBytes = 64}, "<html></html>"};
  dlc::serve::HttpResponse response = dlc::serve::handleRequest(request, context);

  check(response.status >= 200 && response.status < 600);
  check(!response.body.empty());
  if (response.contentType == "application/json") {
    nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
    check(!body.is_discarded());
    check(response.status == 200 || body.contains("error"));
    if (response.status == 200 && request.path == "/v1/predict")
      check(body.at("probabilities").size() == predictor.askedFor);
  }
  return 0;
}
