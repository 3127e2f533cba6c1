// `dlc serve` over loopback, on a small trained model: the answers match the compiled model's,
// concurrent clients each get their own, bad requests get JSON errors while the server goes on,
// and the command prints its port and stops cleanly on SIGTERM.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "frontend/model_io.h"
#include "runtime/compiled_model.h"
#include "runtime/trainer.h"
#include "serve/batching_predictor.h"
#include "serve/http_server.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace dlc::serve {
namespace {

using nlohmann::json;
using testing::TemporaryDirectory;

/// One small model trained for the whole suite, and the reference answers of the compiled model.
class ServeOverLoopback : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    directory_ = new TemporaryDirectory();
    modelPath_ = directory_->path("trained.fbs");
    testing::ParsedModel parsed = testing::parseModelJson(testing::smallSiameseModel(40, 8));
    TrainOptions options;
    options.epochs = 3;
    options.batchSize = 32;
    options.seed = 2;
    trainModel(parsed.model, parsed.analysis, testing::toyPairs(400, 5), options, "toy");
    saveModel(parsed.model, modelPath_);
  }

  static void TearDownTestSuite() { delete directory_; }

  /// What the model says of each pair, one run each.
  static std::vector<float> expectedProbabilities(const std::vector<TextPair>& pairs) {
    CompiledModel::Options options;
    options.batchSize = 1;
    auto model = CompiledModel::compile(modelPath_, options);
    std::vector<float> result;
    for (const TextPair& pair : pairs) result.push_back(model->predictPairs({pair}).front());
    return result;
  }

  static std::vector<TextPair> textPairs(int count, uint64_t seed) {
    std::vector<TextPair> result;
    for (const QuestionPair& pair : testing::toyPairs(count, seed))
      result.emplace_back(pair.question1, pair.question2);
    return result;
  }

  static json predictBody(const std::vector<TextPair>& pairs) {
    json body = {{"pairs", json::array()}};
    for (const auto& [first, second] : pairs) body["pairs"].push_back({first, second});
    return body;
  }

  static TemporaryDirectory* directory_;
  static std::string modelPath_;
};

TemporaryDirectory* ServeOverLoopback::directory_ = nullptr;
std::string ServeOverLoopback::modelPath_;

/// A server on a free loopback port, serving from its own thread until it goes away.
class RunningServer {
 public:
  RunningServer(Predictor& predictor, RequestLimits limits = {})
      : server_(predictor, "<html>page</html>", {.port = 0, .limits = limits, .log = nullptr}),
        port_(server_.bind()),
        thread_([this] { server_.serve(); }) {}
  ~RunningServer() {
    server_.stop();
    thread_.join();
  }
  httplib::Client client() const { return httplib::Client("127.0.0.1", port_); }

 private:
  HttpServer server_;
  int port_;
  std::thread thread_;
};

TEST_F(ServeOverLoopback, AnswersLikeTheCompiledModel) {
  BatchingPredictor predictor(modelPath_, {.batchSize = 4, .sessions = 1});
  RunningServer server(predictor);
  httplib::Client client = server.client();

  std::vector<TextPair> pairs = textPairs(10, 21);  // three batches, the last one partial
  auto response = client.Post("/v1/predict", predictBody(pairs).dump(), "application/json");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(response->get_header_value("Content-Type"), "application/json");
  std::vector<float> probabilities = json::parse(response->body).at("probabilities");
  std::vector<float> expected = expectedProbabilities(pairs);
  ASSERT_EQ(probabilities.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(probabilities[i], expected[i], 1e-5);

  auto model = client.Get("/v1/model");
  ASSERT_TRUE(model);
  json description = json::parse(model->body);
  EXPECT_EQ(description.at("name"), "small_siamese");
  EXPECT_EQ(description.at("batch_size"), 4);
  EXPECT_EQ(description.at("tokenizer").at("sequence_length"), 8);
  EXPECT_EQ(description.at("tokenizer").at("filters"), "?");
  EXPECT_GT(description.at("tokenizer").at("vocabulary_size").get<int>(), 10);
  EXPECT_EQ(description.at("summary").at("total_params"),
            description.at("summary").at("trainable_params"));

  auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->body, "<html>page</html>");
}

TEST_F(ServeOverLoopback, ServesACompiledGraphAtItsOwnBatchSize) {
  std::string compiled = directory_->path("trained.dlc");
  std::string errors;
  ASSERT_EQ(testing::runDlc(fmt::format("compile {} --batch 4 -o {}", modelPath_, compiled),
                            nullptr, &errors),
            0)
      << errors;

  BatchingPredictor predictor(compiled, {});
  EXPECT_EQ(predictor.batchSize(), 4);
  EXPECT_EQ(predictor.describe().at("batch_size"), 4);
  std::vector<TextPair> pairs = textPairs(6, 8);
  std::vector<float> probabilities = predictor.predict(pairs);
  std::vector<float> expected = expectedProbabilities(pairs);
  ASSERT_EQ(probabilities.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(probabilities[i], expected[i], 1e-5);

  try {
    BatchingPredictor other(compiled, {.batchSize = 8});
    ADD_FAILURE() << "a compiled graph served at another batch size";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("compiled for batches of 4, not 8"), std::string::npos)
        << error.what();
  }
}

TEST_F(ServeOverLoopback, ConcurrentClientsEachGetTheirOwnAnswers) {
  // Two sessions and batches of 4: requests from different clients share batches.
  BatchingPredictor predictor(modelPath_, {.batchSize = 4, .sessions = 2});
  RunningServer server(predictor);
  constexpr int kClients = 8, kRequests = 15;
  std::vector<TextPair> pairs = textPairs(kClients * kRequests * 3, 33);
  std::vector<float> expected = expectedProbabilities(pairs);
  // Answers that all looked alike could not show a mix-up.
  auto [lowest, highest] = std::minmax_element(expected.begin(), expected.end());
  ASSERT_GT(*highest - *lowest, 0.2f);

  std::vector<std::string> failures(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client client = server.client();
      for (int r = 0; r < kRequests && failures[c].empty(); ++r) {
        // Request r of client c asks for 1 to 3 pairs of its own slice.
        size_t start = static_cast<size_t>((c * kRequests + r) * 3);
        size_t count = 1 + static_cast<size_t>((c + r) % 3);
        std::vector<TextPair> mine(pairs.begin() + start, pairs.begin() + start + count);
        auto response = client.Post("/v1/predict", predictBody(mine).dump(), "application/json");
        if (!response || response->status != 200) {
          failures[c] = fmt::format("request {}: no 200", r);
          break;
        }
        std::vector<float> answer = json::parse(response->body).at("probabilities");
        for (size_t i = 0; i < count; ++i)
          if (answer.size() != count || std::abs(answer[i] - expected[start + i]) > 1e-5)
            failures[c] = fmt::format("request {}: pair {} got someone else's answer", r, i);
      }
    });
  }
  for (std::thread& client : clients) client.join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(failures[c], "") << "client " << c;
}

TEST_F(ServeOverLoopback, BadRequestsGetJsonErrorsAndTheServerGoesOn) {
  BatchingPredictor predictor(modelPath_, {.batchSize = 4, .sessions = 1});
  RunningServer server(predictor, {.maxBodyBytes = 1024, .maxPairs = 4, .maxQuestionBytes = 100});
  httplib::Client client = server.client();

  struct Case {
    std::string body;
    int status;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"{\"pairs\": [[\"a\", ", 400, "malformed JSON"},
      {R"({"pairs": [["a", 7]]})", 400, "pairs[0][1]: expected a string, got number"},
      {predictBody(textPairs(5, 1)).dump(), 400, "over the limit of 4"},
      {predictBody({{std::string(101, 'a'), "b"}}).dump(), 400, "101 bytes"},
      // Refused by the HTTP layer from its Content-Length, before the handler sees it.
      {predictBody({{std::string(2000, 'a'), "b"}}).dump(), 413, "over the limit of 1024"},
  };
  for (const Case& bad : cases) {
    auto response = client.Post("/v1/predict", bad.body, "application/json");
    ASSERT_TRUE(response) << bad.body;
    EXPECT_EQ(response->status, bad.status) << bad.body;
    EXPECT_EQ(response->get_header_value("Content-Type"), "application/json");
    std::string error = json::parse(response->body).value("error", "");
    EXPECT_NE(error.find(bad.reason), std::string::npos) << response->body;
  }

  auto wrongMethod = client.Put("/healthz", "", "text/plain");
  ASSERT_TRUE(wrongMethod);
  EXPECT_EQ(wrongMethod->status, 405);
  EXPECT_EQ(wrongMethod->get_header_value("Allow"), "GET");

  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto good = client.Post("/v1/predict", predictBody(textPairs(2, 3)).dump(), "application/json");
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 200);
}

TEST_F(ServeOverLoopback, LargeBodiesUpToTheDefaultLimit) {
  BatchingPredictor predictor(modelPath_, {.batchSize = 4, .sessions = 1});
  RunningServer server(predictor);
  httplib::Client client = server.client();

  // Nested 300,000 deep, under the 1 MiB limit: refused, without exhausting the stack.
  std::string deep = R"({"pairs": )" + std::string(300000, '[') + std::string(300000, ']') + "}";
  auto nested = client.Post("/v1/predict", deep, "application/json");
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->status, 400);
  EXPECT_NE(nested->body.find("expected an array of two strings"), std::string::npos);

  // `curl -d` sends a form Content-Type, which cpp-httplib limits to 8 KiB.
  std::string form = predictBody({{std::string(9000, 'a'), "b"}}).dump();
  auto formBody = client.Post("/v1/predict", form, "application/x-www-form-urlencoded");
  ASSERT_TRUE(formBody);
  EXPECT_EQ(formBody->status, 413);
  EXPECT_NE(formBody->body.find("send application/json"), std::string::npos) << formBody->body;

  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

/// `dlc serve` as a child process whose standard output is read line by line.
class ServeProcess {
 public:
  explicit ServeProcess(const std::vector<std::string>& arguments) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      std::vector<char*> argv = {const_cast<char*>(DLC_BINARY)};
      for (const std::string& argument : arguments)
        argv.push_back(const_cast<char*>(argument.c_str()));
      argv.push_back(nullptr);
      execv(DLC_BINARY, argv.data());
      _exit(127);
    }
    close(fds[1]);
    output_ = fds[0];
  }

  ~ServeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(output_);
  }

  /// The next line it prints, or "" if none comes within `seconds`.
  std::string readLine(int seconds = 60) {
    while (true) {
      size_t end = buffer_.find('\n');
      if (end != std::string::npos) {
        std::string line = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        return line;
      }
      pollfd ready = {output_, POLLIN, 0};
      if (poll(&ready, 1, seconds * 1000) <= 0) return "";
      char chunk[4096];
      ssize_t count = read(output_, chunk, sizeof chunk);
      if (count <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(count));
    }
  }

  /// Sends `signal` and returns the exit status (or 128 + the signal that killed it).
  int stop(int signal) {
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int output_ = -1;
  std::string buffer_;
};

TEST_F(ServeOverLoopback, TheCommandPrintsItsPortLogsEachRequestAndStopsOnSignals) {
  for (int signal : {SIGTERM, SIGINT}) {
    ServeProcess process({"serve", modelPath_, "--port", "0", "--batch", "8"});
    std::string banner = process.readLine();
    std::smatch match;
    ASSERT_TRUE(std::regex_search(banner, match, std::regex("http://127\\.0\\.0\\.1:(\\d+)/")))
        << banner;
    httplib::Client client("127.0.0.1", std::stoi(match[1]));

    auto health = client.Get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_TRUE(std::regex_search(process.readLine(), std::regex(" GET /healthz 200 [0-9.]+ ms$")));
    auto bad = client.Post("/v1/predict", "[", "application/json");
    ASSERT_TRUE(bad);
    EXPECT_TRUE(std::regex_search(process.readLine(), std::regex(" POST /v1/predict 400 ")));

    EXPECT_EQ(process.stop(signal), 0) << strsignal(signal);
  }
}

TEST(DlcServe, AModelWithoutATokenizerIsOneErrorLine) {
  std::string errors;
  EXPECT_EQ(testing::runDlc(
                "serve " + testing::sourcePath("examples/quora_siamese/model.json") + " --port 0",
                nullptr, &errors),
            1);
  EXPECT_NE(errors.find("tokenizer"), std::string::npos) << errors;
}

}  // namespace
}  // namespace dlc::serve
