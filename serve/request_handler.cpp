#include "serve/request_handler.h"

#include <exception>
#include <variant>

namespace dlc::serve {

namespace {

using nlohmann::json;

/// A request the handler refuses: its status and the reason, for the error body.
struct RefusedRequest {
  int status;
  std::string message;
};

/// JSON text; bytes that are not UTF-8 (echoed from a request in an error) become U+FFFD
/// rather than an exception.
std::string dumpJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

HttpResponse jsonResponse(int status, const json& value) {
  return {status, "application/json", dumpJson(value), ""};
}

std::string elementName(size_t pair, size_t question) {
  return "pairs[" + std::to_string(pair) + "][" + std::to_string(question) + "]";
}

/// The body of `POST /v1/predict`, {"pairs": [["q1", "q2"], ...]}, checked against the limits.
std::vector<TextPair> parsePredictBody(std::string_view body, const RequestLimits& limits) {
  if (body.size() > limits.maxBodyBytes)
    throw RefusedRequest{413, "the body has " + std::to_string(body.size()) +
                                  " bytes, over the limit of " +
                                  std::to_string(limits.maxBodyBytes)};

  // nlohmann keeps the last of two equal keys; a client that sent two "pairs" meant something.
  size_t pairsKeys = 0;
  auto countPairsKeys = [&](int depth, json::parse_event_t event, const json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && parsed == "pairs") ++pairsKeys;
    return true;
  };
  json document;
  try {
    document = json::parse(body, countPairsKeys);
  } catch (const json::exception& error) {
    // A syntax error, or a number past a double (out_of_range). nlohmann's messages start with
    // "[json.exception.parse_error.101] ", which says nothing to a client.
    std::string_view what = error.what();
    size_t start = what.find("] ");
    throw RefusedRequest{
        400, "malformed JSON: " + std::string(start == what.npos ? what : what.substr(start + 2))};
  }

  if (!document.is_object())
    throw RefusedRequest{
        400, std::string("expected a JSON object {\"pairs\": [...]}, got ") + document.type_name()};
  for (const auto& [key, value] : document.items())
    if (key != "pairs") throw RefusedRequest{400, "unknown field \"" + key + "\""};
  if (pairsKeys > 1) throw RefusedRequest{400, "the field \"pairs\" is given more than once"};
  auto pairsField = document.find("pairs");
  if (pairsField == document.end()) throw RefusedRequest{400, "missing field \"pairs\""};
  const json& pairs = *pairsField;
  if (!pairs.is_array())
    throw RefusedRequest{400,
                         std::string("\"pairs\": expected an array, got ") + pairs.type_name()};
  if (pairs.size() > limits.maxPairs)
    throw RefusedRequest{400, "\"pairs\" has " + std::to_string(pairs.size()) +
                                  " pairs, over the limit of " + std::to_string(limits.maxPairs)};

  std::vector<TextPair> result;
  result.reserve(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    const json& pair = pairs[i];
    if (!pair.is_array() || pair.size() != 2)
      throw RefusedRequest{400, "pairs[" + std::to_string(i) +
                                    "]: expected an array of two strings, got " +
                                    (pair.is_array() ? "an array of " + std::to_string(pair.size())
                                                     : std::string(pair.type_name()))};
    for (size_t question = 0; question < 2; ++question) {
      const json& text = pair[question];
      if (!text.is_string())
        throw RefusedRequest{
            400, elementName(i, question) + ": expected a string, got " + text.type_name()};
      size_t bytes = text.get_ref<const std::string&>().size();
      if (bytes > limits.maxQuestionBytes)
        throw RefusedRequest{400, elementName(i, question) + ": the question has " +
                                      std::to_string(bytes) + " bytes, over the limit of " +
                                      std::to_string(limits.maxQuestionBytes)};
    }
    result.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
  }
  return result;
}

HttpResponse servePage(const HttpRequest&, const ServiceContext& context) {
  return {200, "text/html; charset=utf-8", std::string(context.page), ""};
}

HttpResponse serveHealth(const HttpRequest&, const ServiceContext&) {
  return jsonResponse(200, {{"status", "ok"}});
}

HttpResponse serveModel(const HttpRequest&, const ServiceContext& context) {
  json description = context.predictor.describe();
  description["limits"] = {{"max_body_bytes", context.limits.maxBodyBytes},
                           {"max_pairs", context.limits.maxPairs},
                           {"max_question_bytes", context.limits.maxQuestionBytes}};
  return jsonResponse(200, description);
}

HttpResponse servePredict(const HttpRequest& request, const ServiceContext& context) {
  std::vector<TextPair> pairs;
  try {
    pairs = parsePredictBody(request.body, context.limits);
  } catch (const RefusedRequest& refused) {
    return errorResponse(refused.status, refused.message);
  }

  std::vector<float> probabilities;
  if (!pairs.empty()) probabilities = context.predictor.predict(pairs);
  if (probabilities.size() != pairs.size())
    return errorResponse(500, "the model returned " + std::to_string(probabilities.size()) +
                                  " probabilities for " + std::to_string(pairs.size()) + " pairs");
  return jsonResponse(200, {{"probabilities", probabilities}});
}

using Route = HttpResponse (*)(const HttpRequest&, const ServiceContext&);

struct Endpoint {
  std::string_view method;
  std::string_view path;
  Route serve;
};

/// Every endpoint, once; README's `dlc serve` section documents each.
constexpr Endpoint kEndpoints[] = {
    {"GET", "/", servePage},
    {"GET", "/healthz", serveHealth},
    {"GET", "/v1/model", serveModel},
    {"POST", "/v1/predict", servePredict},
};

}  // namespace

HttpResponse errorResponse(int status, std::string_view message) {
  return jsonResponse(status, {{"error", std::string(message)}});
}

namespace {

/// The endpoint of a request, or its 404 or 405.
std::variant<const Endpoint*, HttpResponse> findEndpoint(std::string_view method,
                                                         std::string_view path) {
  // HEAD is GET without the body, which the HTTP layer leaves out.
  std::string_view asked = method == "HEAD" ? std::string_view("GET") : method;
  std::string allowed;
  for (const Endpoint& endpoint : kEndpoints) {
    if (endpoint.path != path) continue;
    if (endpoint.method == asked) return &endpoint;
    allowed += (allowed.empty() ? "" : ", ") + std::string(endpoint.method);
  }

  if (allowed.empty())
    return errorResponse(404, "no such endpoint: " + std::string(path) +
                                  " (there are GET /, GET /healthz, GET /v1/model and "
                                  "POST /v1/predict)");
  HttpResponse response = errorResponse(405, std::string(method) + " is not allowed on " +
                                                 std::string(path) + " (use " + allowed + ")");
  response.allow = allowed;
  return response;
}

}  // namespace

std::optional<HttpResponse> routeError(std::string_view method, std::string_view path) {
  auto found = findEndpoint(method, path);
  if (auto* refusal = std::get_if<HttpResponse>(&found)) return std::move(*refusal);
  return std::nullopt;
}

HttpResponse handleRequest(const HttpRequest& request, const ServiceContext& context) {
  auto found = findEndpoint(request.method, request.path);
  if (auto* refusal = std::get_if<HttpResponse>(&found)) return std::move(*refusal);
  try {
    return std::get<const Endpoint*>(found)->serve(request, context);
  } catch (const std::exception& error) {
    return errorResponse(500, std::string("internal error: ") + error.what());
  } catch (...) {
    return errorResponse(500, "internal error");
  }
}

}  // namespace dlc::serve
