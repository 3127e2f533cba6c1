// The API of `dlc serve` as a pure function: routes, good requests, and every kind of bad one,
// on a predictor that records what it was asked.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "serve/page_html.h"
#include "serve/request_handler.h"
#include "tests/test_support.h"

namespace dlc::serve {
namespace {

using nlohmann::json;

/// Answers each pair with (length of the first question) / 100, so that order is checked.
class RecordingPredictor : public Predictor {
 public:
  std::vector<float> predict(const std::vector<TextPair>& pairs) override {
    if (failing) throw std::runtime_error("the model broke");
    calls.push_back(pairs);
    std::vector<float> result;
    for (const auto& [first, second] : pairs) result.push_back(first.size() / 100.0f);
    return result;
  }
  json describe() const override { return {{"name", "recording"}}; }

  std::vector<std::vector<TextPair>> calls;
  bool failing = false;
};

class ServeHandler : public ::testing::Test {
 protected:
  HttpResponse post(std::string_view body) { return send("POST", "/v1/predict", body); }

  HttpResponse send(std::string_view method, std::string_view path, std::string_view body = "") {
    return handleRequest({method, path, body}, context_);
  }

  /// The error message of a JSON error response; fails the test if it is not one.
  static std::string errorOf(const HttpResponse& response) {
    EXPECT_EQ(response.contentType, "application/json");
    json body = json::parse(response.body);
    EXPECT_TRUE(body.contains("error")) << response.body;
    return body.value("error", "");
  }

  RecordingPredictor predictor_;
  RequestLimits limits_{.maxBodyBytes = 4096, .maxPairs = 3, .maxQuestionBytes = 50};
  ServiceContext context_{predictor_, limits_, "<!doctype html><title>page</title>"};
};

TEST_F(ServeHandler, PredictsEveryPairInOrder) {
  HttpResponse response = post(R"({"pairs": [["ab", "x"], ["abcd", "y"], ["", "z"]]})");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.contentType, "application/json");
  std::vector<float> probabilities = json::parse(response.body).at("probabilities");
  EXPECT_EQ(probabilities, (std::vector<float>{0.02f, 0.04f, 0.0f}));
  ASSERT_EQ(predictor_.calls.size(), 1u);
  EXPECT_EQ(predictor_.calls[0][1], (TextPair{"abcd", "y"}));
}

TEST_F(ServeHandler, NoPairsNeedNoModel) {
  HttpResponse response = post(R"({"pairs": []})");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(json::parse(response.body), json::parse(R"({"probabilities": []})"));
  EXPECT_TRUE(predictor_.calls.empty());
}

TEST_F(ServeHandler, RefusesBadPredictRequestsWithAReason) {
  std::string longQuestion(51, 'q');
  struct Case {
    std::string body;
    int status;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"", 400, "malformed JSON"},
      {R"({"pairs": [["a", "b"]])", 400, "malformed JSON"},
      {"{\"pairs\": [[\"\xff\xfe\", 1]", 400, "malformed JSON"},
      {R"({"pairs": [[1e400, "b"]]})", 400, "malformed JSON: number overflow"},
      {R"([["a", "b"]])", 400, "expected a JSON object"},
      {R"({})", 400, "missing field \"pairs\""},
      {R"({"pairs": [], "pair": []})", 400, "unknown field \"pair\""},
      {R"({"pairs": [["a", "b"]], "pairs": []})", 400, "\"pairs\" is given more than once"},
      {R"({"pairs": {"a": "b"}})", 400, "\"pairs\": expected an array, got object"},
      {R"({"pairs": ["a", "b"]})", 400, "pairs[0]: expected an array of two strings, got string"},
      {R"({"pairs": [["a", "b", "c"]]})", 400, "got an array of 3"},
      {R"({"pairs": [["a", "b"], ["c", null]]})", 400, "pairs[1][1]: expected a string, got null"},
      {R"({"pairs": [[1, "b"]]})", 400, "pairs[0][0]: expected a string, got number"},
      {R"({"pairs": [["a","b"],["a","b"],["a","b"],["a","b"]]})", 400,
       "4 pairs, over the limit of 3"},
      {R"({"pairs": [["a", ")" + longQuestion + R"("]]})", 400, "51 bytes, over the limit of 50"},
      {R"({"pairs": [["a", ")" + std::string(5000, 'x') + R"("]]})", 413, "over the limit of 4096"},
  };
  for (const Case& bad : cases) {
    HttpResponse response = post(bad.body);
    EXPECT_EQ(response.status, bad.status) << bad.body;
    EXPECT_NE(errorOf(response).find(bad.reason), std::string::npos)
        << bad.body << " -> " << response.body;
  }
  EXPECT_TRUE(predictor_.calls.empty());
}

TEST_F(ServeHandler, AFailingModelIsA500) {
  predictor_.failing = true;
  HttpResponse response = post(R"({"pairs": [["a", "b"]]})");
  EXPECT_EQ(response.status, 500);
  EXPECT_NE(errorOf(response).find("the model broke"), std::string::npos);
}

TEST_F(ServeHandler, ServesThePageHealthAndModel) {
  HttpResponse page = send("GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.contentType, "text/html; charset=utf-8");
  EXPECT_EQ(page.body, context_.page);

  HttpResponse health = send("GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(json::parse(health.body).at("status"), "ok");
  EXPECT_EQ(send("HEAD", "/healthz").status, 200);

  HttpResponse model = send("GET", "/v1/model");
  ASSERT_EQ(model.status, 200);
  json description = json::parse(model.body);
  EXPECT_EQ(description.at("name"), "recording");
  EXPECT_EQ(description.at("limits").at("max_pairs"), 3);
  EXPECT_EQ(description.at("limits").at("max_body_bytes"), 4096);
}

TEST_F(ServeHandler, UnknownPathsAndWrongMethods) {
  HttpResponse missing = send("GET", "/v2/predict");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(errorOf(missing).find("/v2/predict"), std::string::npos);

  HttpResponse wrongMethod = send("GET", "/v1/predict");
  EXPECT_EQ(wrongMethod.status, 405);
  EXPECT_EQ(wrongMethod.allow, "POST");
  EXPECT_NE(errorOf(wrongMethod).find("use POST"), std::string::npos);
  EXPECT_EQ(send("DELETE", "/").allow, "GET");
}

TEST_F(ServeHandler, RouteErrorsNeedNoBody) {
  EXPECT_FALSE(routeError("POST", "/v1/predict"));
  EXPECT_FALSE(routeError("HEAD", "/healthz"));
  std::optional<HttpResponse> wrongMethod = routeError("PUT", "/healthz");
  ASSERT_TRUE(wrongMethod);
  EXPECT_EQ(wrongMethod->status, 405);
  EXPECT_EQ(wrongMethod->allow, "GET");
  std::optional<HttpResponse> missing = routeError("POST", "/v2/predict");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(ServeHandler, ErrorBodiesStayValidJsonWhateverTheRequestBytes) {
  // A path that is not UTF-8 is echoed in the error; the body must still parse.
  HttpResponse response = send("GET", "/\xc3\x28\xff");
  EXPECT_EQ(response.status, 404);
  EXPECT_TRUE(json::accept(response.body)) << response.body;
}

TEST(ServePage, IsSelfContainedAndHasWhatTheBrowserTestDrives) {
  std::string_view page = kPageHtml;
  // No external scripts, styles, fonts or images: the page works offline.
  for (const char* external : {"src=\"http", "href=\"http", "url(http", "@import"})
    EXPECT_EQ(page.find(external), std::string_view::npos) << external;
  for (const char* id : {"id=\"question1\"", "id=\"question2\"", "id=\"compare\"",
                         "id=\"probability\"", "id=\"result\"", "id=\"examples\""})
    EXPECT_NE(page.find(id), std::string_view::npos) << id;
  // The six pairs of the talk, as examples/quora_siamese/talk_pairs.tsv has them.
  std::istringstream pairs(
      testing::readText(testing::sourcePath("examples/quora_siamese/talk_pairs.tsv")));
  int questions = 0;
  for (std::string line; std::getline(pairs, line);) {
    std::istringstream fields(line);
    std::string question;
    for (int i = 0; i < 2 && std::getline(fields, question, '\t'); ++i, ++questions)
      EXPECT_NE(page.find("\"" + question + "\""), std::string_view::npos) << question;
  }
  EXPECT_EQ(questions, 12);
  EXPECT_NE(page.find("/v1/predict"), std::string_view::npos);
}

}  // namespace
}  // namespace dlc::serve
