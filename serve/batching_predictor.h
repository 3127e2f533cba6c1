// Predictions for concurrent requests on a trained model. A compiled model is not thread-safe, so
// each of a small pool of sessions is owned by one worker thread; the workers take the pairs
// that requests have queued, from as many requests as fill one batch of the compiled batch size.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "runtime/compiled_model.h"
#include "serve/request_handler.h"

namespace dlc::serve {

struct PredictorOptions {
  /// Pairs per run of the compiled model.
  int64_t batchSize = 8;
  /// Sessions, each run by its own worker thread.
  int sessions = 1;
  /// Threads each session computes with.
  int threads = 1;
};

class BatchingPredictor : public Predictor {
 public:
  /// Compiles the trained model at `path` once per session; throws dlc::Error if it cannot be
  /// read or has no tokenizer.
  BatchingPredictor(const std::string& path, const PredictorOptions& options);
  /// Waits for the batches being run, then stops the workers.
  ~BatchingPredictor() override;

  std::vector<float> predict(const std::vector<TextPair>& pairs) override;
  nlohmann::json describe() const override { return description_; }

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
