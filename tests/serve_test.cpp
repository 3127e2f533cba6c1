// `dlc serve` over loopback, on a small trained model: the answers match the compiled model's,
// concurrent clients each get their own, bad requests get JSON errors while the server goes on,
// and the command prints its port and stops cleanly on SIGTERM.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
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
      : RunningServer(predictor, ServerOptions{.port = 0, .limits = limits, .log = nullptr}) {}
  RunningServer(Predictor& predictor, const ServerOptions& options)
      : server_(predictor, "<html>page</html>", options),
        port_(server_.bind()),
        thread_([this] { server_.serve(); }) {}
  ~RunningServer() {
    server_.stop();
    thread_.join();
  }
  httplib::Client client() const { return httplib::Client("127.0.0.1", port_); }
  int port() const { return port_; }

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

/// A stand-in model for the tests of the HTTP layer alone: every pair gets 0.5.
class HalfPredictor : public Predictor {
 public:
  std::vector<float> predict(const std::vector<TextPair>& pairs) override {
    return std::vector<float>(pairs.size(), 0.5f);
  }
  json describe() const override { return {{"name", "half"}}; }
};

/// A TCP client that sends bytes as they are, complete requests or not.
class RawClient {
 public:
  explicit RawClient(int port, const char* host = "127.0.0.1") {
    sockaddr_storage address = {};
    socklen_t length = 0;
    if (std::string_view(host).find(':') != std::string_view::npos) {
      auto& ipv6 = reinterpret_cast<sockaddr_in6&>(address);
      ipv6.sin6_family = AF_INET6;
      ipv6.sin6_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET6, host, &ipv6.sin6_addr);
      length = sizeof ipv6;
    } else {
      auto& ipv4 = reinterpret_cast<sockaddr_in&>(address);
      ipv4.sin_family = AF_INET;
      ipv4.sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, host, &ipv4.sin_addr);
      length = sizeof ipv4;
    }
    socket_ = ::socket(address.ss_family, SOCK_STREAM, 0);
    EXPECT_EQ(connect(socket_, reinterpret_cast<sockaddr*>(&address), length), 0);
  }
  ~RawClient() { close(socket_); }
  /// Says that nothing more will be sent.
  void finishSending() { shutdown(socket_, SHUT_WR); }

  void send(std::string_view bytes) {
    EXPECT_EQ(::send(socket_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }

  /// What the server sends until it closes the connection; "" if it sends nothing for `seconds`.
  std::string receiveUntilClosed(int seconds = 10) {
    std::string received;
    while (true) {
      pollfd ready = {socket_, POLLIN, 0};
      if (poll(&ready, 1, seconds * 1000) <= 0) return "";
      char chunk[4096];
      ssize_t count = recv(socket_, chunk, sizeof chunk, 0);
      if (count <= 0) return received;
      received.append(chunk, static_cast<size_t>(count));
    }
  }

 private:
  int socket_ = -1;
};

/// The status of a raw HTTP response, and the error its JSON body carries.
std::pair<int, std::string> statusAndError(const std::string& response) {
  if (response.size() < 12 || !response.starts_with("HTTP/1.1 ")) return {0, response};
  size_t body = response.find("\r\n\r\n");
  json error = json::parse(response.substr(body + 4), nullptr, false);
  return {std::stoi(response.substr(9, 3)),
          error.is_object() ? error.value("error", "") : response.substr(body + 4)};
}

/// Long enough that a test waiting for one of them would fail instead.
constexpr ConnectionTimeouts kPatientTimeouts = {.header = std::chrono::seconds(60),
                                                 .idle = std::chrono::seconds(60),
                                                 .read = std::chrono::seconds(60)};

TEST(ServeHttp, ASecondServerOnAPortInUseFails) {
  HalfPredictor predictor;
  RunningServer first(predictor);
  HttpServer second(predictor, "", {.port = first.port(), .log = nullptr});
  try {
    second.bind();
    ADD_FAILURE() << "two servers listen on port " << first.port();
  } catch (const Error& error) {
    EXPECT_EQ(
        std::string(error.what()),
        fmt::format("serve: cannot listen on 127.0.0.1:{}: Address already in use", first.port()));
  }
}

TEST(ServeHttp, AWrongLengthIsAnsweredBeforeTheBodyAndClosesTheConnection) {
  HalfPredictor predictor;
  RunningServer server(
      predictor,
      {.port = 0, .limits = {.maxBodyBytes = 1024}, .timeouts = kPatientTimeouts, .log = nullptr});
  struct Case {
    std::string headers;
    int status;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"POST /v1/predict HTTP/1.1\r\nContent-Length: -5\r\n", 400,
       "Content-Length must be a number of bytes, got \"-5\""},
      {"POST /v1/predict HTTP/1.1\r\nContent-Length: 12abc\r\n", 400, "got \"12abc\""},
      {"POST /v1/predict HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n", 400,
       "a number of bytes"},
      {"POST /v1/predict HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n", 400,
       "more than one Content-Length"},
      {"POST /v1/predict HTTP/1.1\r\nContent-Length: 5000\r\n", 413, "over the limit of 1024"},
      {"POST /v1/predict HTTP/1.1\r\n", 411,
       "POST /v1/predict needs a body with a Content-Length header"},
      {"PUT /healthz HTTP/1.1\r\n", 405, "use GET"},
  };
  for (const Case& wrong : cases) {
    // The body is never sent: the answer must not wait for it.
    RawClient client(server.port());
    client.send(wrong.headers + "Host: test\r\nContent-Type: application/json\r\n\r\n");
    std::string response = client.receiveUntilClosed();
    auto [status, error] = statusAndError(response);
    EXPECT_EQ(status, wrong.status) << wrong.headers << " -> " << response;
    EXPECT_NE(error.find(wrong.reason), std::string::npos) << wrong.headers << " -> " << response;
    EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
  }

  // A GET's body is not read: the connection closes rather than take it for a request.
  RawClient getWithBody(server.port());
  getWithBody.send("GET /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(statusAndError(getWithBody.receiveUntilClosed()).first, 200);

  auto health = server.client().Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(ServeHttp, SlowClientsDoNotHoldUpTheOthers) {
  HalfPredictor predictor;
  RunningServer server(
      predictor, {.port = 0, .connectionThreads = 2, .timeouts = kPatientTimeouts, .log = nullptr});
  // Twice as many clients as threads, each with half a header.
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 4; ++i) {
    slow.push_back(std::make_unique<RawClient>(server.port()));
    slow.back()->send("GET /healthz HTTP/1.1\r\nHost: sl");
  }

  httplib::Client client = server.client();
  client.set_read_timeout(10);
  for (int i = 0; i < 8; ++i) {
    auto health = client.Get("/healthz");
    ASSERT_TRUE(health) << "request " << i;
    EXPECT_EQ(health->status, 200);
  }

  // A slow client that ends its header is served too.
  slow[0]->send("ow\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(statusAndError(slow[0]->receiveUntilClosed()).first, 200);
}

TEST(ServeHttp, GarbageIsAnsweredAndLoggedWithItsLineAndClient) {
  HalfPredictor predictor;
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  {
    RunningServer server(predictor, {.port = 0, .timeouts = kPatientTimeouts, .log = log});
    RawClient client(server.port());
    client.send("hello there\r\n\r\n");
    auto [status, error] = statusAndError(client.receiveUntilClosed());
    EXPECT_EQ(status, 400);
    EXPECT_NE(error.find("malformed HTTP request"), std::string::npos) << error;
    // A client gone before its answer is logged with its address all the same.
    {
      RawClient gone(server.port());
      gone.send("GARBAGE\r\n\r\n");
    }
    RawClient after(server.port());
    after.send("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(statusAndError(after.receiveUntilClosed()).first, 200);
  }
  std::rewind(log);
  std::string logged(4096, '\0');
  logged.resize(std::fread(logged.data(), 1, logged.size(), log));
  std::fclose(log);
  EXPECT_TRUE(std::regex_search(
      logged, std::regex(R"(Z - - 400 [0-9.]+ ms \(malformed request line "hello there" from )"
                         R"(127\.0\.0\.1:[0-9]+\)\n)")))
      << logged;
  EXPECT_TRUE(std::regex_search(
      logged, std::regex(R"(\(malformed request line "GARBAGE" from 127\.0\.0\.1:[0-9]+\)\n)")))
      << logged;
}

TEST(ServeHttp, ABodyShorterThanItsLengthIsRefusedAsSuch) {
  HalfPredictor predictor;
  RunningServer server(predictor, {.port = 0, .timeouts = kPatientTimeouts});
  for (std::string_view request :
       {"POST /v1/predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"pairs\": []}",
        "POST /v1/predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    RawClient client(server.port());
    client.send(request);
    client.finishSending();
    auto [status, error] = statusAndError(client.receiveUntilClosed());
    EXPECT_EQ(status, 400);
    bool chunked = request.find("chunked") != std::string_view::npos;
    EXPECT_NE(error.find(chunked ? "the chunked body is malformed"
                                 : "the body ended, or stopped coming, before the 100 bytes of "
                                   "its Content-Length"),
              std::string::npos)
        << error;
  }
}

TEST(ServeHttp, ListensOnIpv6) {
  EXPECT_EQ(serverUrl("::1", 8080), "http://[::1]:8080/");
  EXPECT_EQ(serverUrl("127.0.0.1", 80), "http://127.0.0.1:80/");

  HalfPredictor predictor;
  RunningServer server(predictor, {.host = "::1", .port = 0, .log = nullptr});
  RawClient client(server.port(), "::1");
  client.send("GET /healthz HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(statusAndError(client.receiveUntilClosed()).first, 200);
}

TEST(ServeSessions, TooManyAreRefusedWithTheFigures) {
  constexpr size_t kMebibyte = size_t{1} << 20;
  EXPECT_NO_THROW(checkSessionsFit(8, 2, 150 * kMebibyte, 1000 * kMebibyte));
  EXPECT_NO_THROW(checkSessionsFit(64, 2, 0, 1000 * kMebibyte));  // unknown: left to the system
  try {
    checkSessionsFit(64, 2, 150 * kMebibyte, 1000 * kMebibyte);
    ADD_FAILURE() << "64 sessions of 150 MiB fit in 1000 MiB";
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()),
              "serve: 64 sessions need about 9600 MiB of memory (150 MiB each); with 2 open, "
              "1000 MiB is left, room for 6 more: give fewer --sessions (at most 8)");
  }
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

TEST_F(ServeOverLoopback, TheCommandPrintsAnIpv6UrlAndASecondOneOnItsPortFails) {
  ServeProcess process({"serve", modelPath_, "--host", "::1", "--port", "0"});
  std::string banner = process.readLine();
  std::smatch match;
  ASSERT_TRUE(std::regex_search(banner, match, std::regex("http://\\[::1\\]:(\\d+)/"))) << banner;

  std::string errors;
  EXPECT_EQ(
      testing::runDlc(fmt::format("serve {} --host ::1 --port {}", modelPath_, match[1].str()),
                      nullptr, &errors),
      1);
  EXPECT_EQ(errors, fmt::format("dlc: error: serve: cannot listen on [::1]:{}: Address already "
                                "in use\n",
                                match[1].str()));
  EXPECT_EQ(process.stop(SIGTERM), 0);
}

TEST_F(ServeOverLoopback, SessionsBeyondTheMemoryLimitAreRefusedWithTheFigures) {
  std::string errors;
  EXPECT_EQ(
      testing::runDlc(fmt::format("--memory-limit 8M serve {} --port 0 --sessions 2", modelPath_),
                      nullptr, &errors),
      1);
  EXPECT_TRUE(errors.starts_with("dlc: error: serve: with 1 of 2 sessions open the process takes "))
      << errors;
  EXPECT_NE(errors.find("more than the memory limit of 8.0 MiB (dlc --memory-limit)\n"),
            std::string::npos)
      << errors;
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
