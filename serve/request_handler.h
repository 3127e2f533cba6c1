// The API of `dlc serve` as one pure function: an HTTP request (method, path, body) in, a status
// and a body out. No sockets here, so that it is unit-tested and fuzzed on its own; it depends on
// the standard library and nlohmann-json only.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dlc::serve {

/// Two questions whose probability of meaning the same is asked for.
using TextPair = std::pair<std::string, std::string>;

/// What the handler needs from a model. Implementations are called from several threads at once.
class Predictor {
 public:
  virtual ~Predictor() = default;

  /// The probability that each pair is a duplicate, in order. May throw on failure.
  virtual std::vector<float> predict(const std::vector<TextPair>& pairs) = 0;

  /// The model's summary and tokenizer settings, as `GET /v1/model` shows them.
  virtual nlohmann::json describe() const = 0;
};

/// What a request may carry; anything larger is refused with a 4xx status.
struct RequestLimits {
  size_t maxBodyBytes = size_t{1} << 20;
  size_t maxPairs = 256;
  size_t maxQuestionBytes = 2000;
};

struct HttpRequest {
  std::string_view method;
  std::string_view path;  // without the query string
  std::string_view body;
};

struct HttpResponse {
  int status = 200;
  std::string contentType = "application/json";
  std::string body;
  /// The methods a path takes, for the Allow header of a 405; empty otherwise.
  std::string allow;
};

/// Everything the handler answers with, besides the request.
struct ServiceContext {
  Predictor& predictor;
  RequestLimits limits;
  /// The HTML of `GET /`.
  std::string_view page;
};

/// Answers one request. Errors are 4xx (5xx when the predictor fails) with a JSON body
/// {"error": "..."}; it never throws, whatever the bytes of the request.
HttpResponse handleRequest(const HttpRequest& request, const ServiceContext& context);

/// The 404 or 405 that a request with this method and path gets, whatever its body; nothing if
/// an endpoint takes it.
std::optional<HttpResponse> routeError(std::string_view method, std::string_view path);

/// A JSON error response, for the errors the HTTP layer detects before the handler runs.
HttpResponse errorResponse(int status, std::string_view message);

}  // namespace dlc::serve
