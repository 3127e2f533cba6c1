// dlc serve: the web page and the JSON API of a trained model (see serve/).
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

#include "serve/batching_predictor.h"
#include "serve/http_server.h"
#include "serve/page_html.h"
#include "tools/commands.h"

namespace dlc::tools {

namespace {

struct ServeOptions {
  std::string model;
  serve::ServerOptions server;
  serve::PredictorOptions predictor;
  bool quiet = false;
};

/// The last SIGINT or SIGTERM received, 0 before any. The handler only sets it: stopping the
/// server is not async-signal-safe, so a watcher thread polls it.
std::atomic<int> stopSignal = 0;
static_assert(std::atomic<int>::is_always_lock_free);

void onStopSignal(int signal) { stopSignal = signal; }

void installStopHandlers() {
  struct sigaction action = {};
  action.sa_handler = onStopSignal;
  sigemptyset(&action.sa_mask);
  // A second signal kills the process, in case stopping hangs.
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

void serveModel(ServeOptions options) {
  if (options.quiet) options.server.log = nullptr;
  serve::BatchingPredictor predictor(options.model, options.predictor);
  serve::HttpServer server(predictor, serve::kPageHtml, options.server);
  int port = server.bind();

  installStopHandlers();
  std::atomic<bool> stopped = false;
  std::thread watcher([&] {
    while (!stopped && stopSignal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (stopSignal != 0) {
      fmt::print("dlc serve: {}, stopping\n", strsignal(stopSignal));
      std::fflush(stdout);
      server.stop();
    }
  });

  // Tests and scripts read the port from this line.
  fmt::print("dlc serve: {} on {} (batch {}, {} session{}, {} thread{})\n", options.model,
             serve::serverUrl(options.server.host, port), predictor.batchSize(),
             options.predictor.sessions, options.predictor.sessions == 1 ? "" : "s",
             options.predictor.threads, options.predictor.threads == 1 ? "" : "s");
  std::fflush(stdout);
  server.serve();

  stopped = true;
  watcher.join();
  fmt::print("dlc serve: stopped\n");
}

}  // namespace

void addServeCommand(CLI::App& app) {
  auto* command = app.add_subcommand(
      "serve", "Serve a trained model: a web page and a JSON API over HTTP (until SIGINT/SIGTERM)");
  auto options = std::make_shared<ServeOptions>();
  serve::RequestLimits& limits = options->server.limits;
  command
      ->add_option("model", options->model,
                   "Trained model file, or a graph compiled from one (dlc compile -o)")
      ->required();
  command->add_option("--host", options->server.host, "Address to listen on")
      ->check(CLI::Validator(
          [](const std::string& host) {
            return host.empty() ? "expected an address (127.0.0.1, ::1, 0.0.0.0), got nothing" : "";
          },
          "ADDRESS"))
      ->capture_default_str();
  command->add_option("--port", options->server.port, "Port to listen on; 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  command->add_option("--threads", options->predictor.threads, "Threads each session computes with")
      ->check(CLI::Range(1, 256));
  command
      ->add_option("--sessions", options->predictor.sessions,
                   "Compiled sessions running batches at the same time")
      ->check(CLI::Range(1, 64));
  command
      ->add_option("--batch", options->predictor.batchSize,
                   "Pairs per run of the model (default: 8; a compiled graph's own)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  command->add_option("--max-body-bytes", limits.maxBodyBytes, "Largest request body")
      ->check(CLI::Range(size_t{1}, size_t{1} << 30))
      ->capture_default_str();
  command->add_option("--max-pairs", limits.maxPairs, "Most pairs in one request")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  command->add_option("--max-question-bytes", limits.maxQuestionBytes, "Longest question")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  command->add_flag("--quiet", options->quiet, "No log line for each request");
  command->callback([=] { serveModel(*options); });
}

}  // namespace dlc::tools
