// Predictions for concurrent requests on a trained model. A compiled model is not thread-safe, so
// each of a small pool of sessions is owned by one worker thread; the workers take the pairs
// that requests have queued, from as many requests as fill one batch of the compiled batch size.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "runtime/compiled_model.h"
#include "serve/request_handler.h"

namespace dlc::serve {

struct PredictorOptions {
  /// Pairs per run of the compiled model; 0: 8 for a model file, its own for a compiled graph.
  int64_t batchSize = 0;
  /// Sessions, each run by its own worker thread.
  int sessions = 1;
  /// Threads each session computes with.
  int threads = 1;
};

/// Throws dlc::Error, with the figures, if the sessions still to open after `opened` of them need
/// more than `availableBytes` at `bytesPerSession` each; a count of 0 bytes is unknown and passes.
void checkSessionsFit(int sessions, int opened, size_t bytesPerSession, size_t availableBytes);

class BatchingPredictor : public Predictor {
 public:
  /// Compiles the trained model at `path` once per session, or loads it if it is a compiled graph
  /// (`dlc compile -o`); throws dlc::Error if it cannot be read, has no tokenizer, or is a
  /// compiled graph for training or for another batch size than options.batchSize.
  BatchingPredictor(const std::string& path, const PredictorOptions& options);
  /// Waits for the batches being run, then stops the workers.
  ~BatchingPredictor() override;

  std::vector<float> predict(const std::vector<TextPair>& pairs) override;
  nlohmann::json describe() const override { return description_; }
  int64_t batchSize() const { return options_.batchSize; }

 private:
  /// One predict() call, waiting for its pairs.
  struct PendingRequest {
    std::vector<float> probabilities;
    size_t remaining = 0;
    std::string error;
  };

  /// At most one batch of a request's pairs, starting at `offset`.
  struct Chunk {
    PendingRequest* request;
    size_t offset;
    std::span<const TextPair> pairs;
  };

  void loadCompiledGraphs(const std::string& path);
  /// Opens options_.sessions sessions with `open`, refusing too many from what the second one
  /// takes in memory rather than running out of it.
  void openSessions(const std::function<std::unique_ptr<CompiledModel>()>& open);
  void runWorker(CompiledModel& model);

  PredictorOptions options_;
  nlohmann::json description_;
  std::vector<std::unique_ptr<CompiledModel>> models_;

  std::mutex mutex_;
  std::condition_variable workAvailable_;
  std::condition_variable workDone_;
  std::deque<Chunk> queue_;  // guarded by mutex_, as are the PendingRequests and stopping_
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace dlc::serve
