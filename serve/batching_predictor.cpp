#include "serve/batching_predictor.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <limits>

#include "frontend/model_io.h"
#include "frontend/summary.h"
#include "runtime/trainer.h"
#include "support/error.h"
#include "support/memory_limit.h"

namespace dlc::serve {

namespace {

/// The settings that turn a question into model inputs (the vocabulary itself only by size).
nlohmann::json describeTokenizer(const schema::TextPreprocessingT& settings) {
  return {{"num_words", settings.num_words},
          {"filters", settings.filters},
          {"lower", settings.lower},
          {"split", settings.split},
          {"oov_token", settings.oov_token},
          {"vocabulary_size", settings.vocabulary.size()},
          {"sequence_length", settings.sequence_length},
          {"padding", schema::EnumNameSide(settings.padding)},
          {"truncating", schema::EnumNameSide(settings.truncating)},
          {"padding_value", settings.padding_value},
          {"text_inputs", settings.text_inputs}};
}

/// Concurrent requests of one pair are answered fastest with small batches.
constexpr int64_t kDefaultBatchSize = 8;

void checkTokenizer(const schema::ModelT& model, const std::string& path) {
  if (!model.preprocessing || model.preprocessing->vocabulary.empty())
    fail("{}: the model has no fitted tokenizer (train it with `dlc train` first)", path);
}

/// The bytes this process has in memory (its resident set); 0 if unknown.
size_t residentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

/// The bytes the machine can still give without swapping (MemAvailable); 0 if unknown.
size_t availableBytes() {
  std::ifstream meminfo("/proc/meminfo");
  for (std::string name; meminfo >> name;) {
    size_t kibibytes = 0;
    if (name == "MemAvailable:" && meminfo >> kibibytes) return kibibytes * 1024;
    meminfo.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

std::string mebibytes(size_t bytes) {
  return fmt::format("{:.0f} MiB", static_cast<double>(bytes) / (1 << 20));
}

/// What the sessions still to open may take, the process holding `resident` bytes: what the
/// machine has available, and no more than the memory limit (dlc --memory-limit) leaves.
size_t roomForSessions(size_t resident) {
  int64_t belowLimit = std::max<int64_t>(memoryLimit() - static_cast<int64_t>(resident), 1);
  size_t available = availableBytes();
  return available == 0 ? belowLimit : std::min(available, static_cast<size_t>(belowLimit));
}

}  // namespace

void checkSessionsFit(int sessions, int opened, size_t bytesPerSession, size_t availableBytes) {
  if (bytesPerSession == 0 || availableBytes == 0 || opened >= sessions) return;
  size_t more = availableBytes / bytesPerSession;
  if (static_cast<size_t>(sessions - opened) <= more) return;
  fail(
      "serve: {} sessions need about {} of memory ({} each); with {} open, {} is left, room for "
      "{} more: give fewer --sessions (at most {})",
      sessions, mebibytes(bytesPerSession * static_cast<size_t>(sessions)),
      mebibytes(bytesPerSession), opened, mebibytes(availableBytes), more,
      static_cast<size_t>(opened) + more);
}

void BatchingPredictor::openSessions(const std::function<std::unique_ptr<CompiledModel>()>& open) {
  // The first session also pays for what every session shares (the JIT's own state), so the
  // second one tells what each takes.
  size_t bytesPerSession = 0;
  try {
    for (int i = 0; i < options_.sessions; ++i) {
      size_t before = residentBytes();
      models_.push_back(open());
      size_t after = residentBytes();
      if (static_cast<int64_t>(after) > memoryLimit())
        fail(
            "serve: with {} of {} sessions open the process takes {}, more than the memory limit "
            "of {} (dlc --memory-limit)",
            i + 1, options_.sessions, mebibytes(after), formatBytes(memoryLimit()));
      if (i == 1 && before && after > before) {
        bytesPerSession = after - before;
        checkSessionsFit(options_.sessions, 2, bytesPerSession, roomForSessions(after));
      }
    }
  } catch (const std::bad_alloc&) {
    fail("serve: out of memory after {} of {} sessions{}; give fewer --sessions", models_.size(),
         options_.sessions,
         bytesPerSession ? fmt::format(" ({} each)", mebibytes(bytesPerSession)) : "");
  }
}

void BatchingPredictor::loadCompiledGraphs(const std::string& path) {
  // The code was compiled for one batch size: the graph's own, or an error if asked for another.
  openSessions([&] { return CompiledModel::load(path); });
  const CompiledModel& compiled = *models_.front();
  if (compiled.training())
    fail("{}: compiled for training; compile it for inference (without --training)", path);
  if (options_.batchSize && options_.batchSize != compiled.batchSize())
    fail("{}: compiled for batches of {}, not {} (leave out --batch, or compile it again)", path,
         compiled.batchSize(), options_.batchSize);
  options_.batchSize = compiled.batchSize();
  checkTokenizer(compiled.model(), path);
}

BatchingPredictor::BatchingPredictor(const std::string& path, const PredictorOptions& options)
    : options_(options) {
  if (options.sessions < 1) fail("serve: need at least one session, got {}", options.sessions);
  if (CompiledModel::isCompiledGraph(path)) {
    loadCompiledGraphs(path);
  } else {
    schema::ModelT model = loadModel(path);
    checkTokenizer(model, path);
    if (options_.batchSize == 0) options_.batchSize = kDefaultBatchSize;
    CompiledModel::Options compileOptions;
    compileOptions.batchSize = options_.batchSize;
    openSessions([&] { return CompiledModel::compile(model, path, compileOptions); });
  }
  const schema::ModelT& model = models_.front()->model();

  description_ = {{"name", model.name},
                  {"file", path},
                  {"batch_size", options_.batchSize},
                  {"sessions", options.sessions},
                  {"threads_per_session", options.threads},
                  {"epochs_trained", model.training ? model.training->epochs_done : 0},
                  {"summary", summaryJson(model, analyzeModel(model, path))},
                  {"tokenizer", describeTokenizer(*model.preprocessing)}};

  for (auto& compiled : models_)
    workers_.emplace_back([this, model = compiled.get()] { runWorker(*model); });
}

BatchingPredictor::~BatchingPredictor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  workAvailable_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

std::vector<float> BatchingPredictor::predict(const std::vector<TextPair>& pairs) {
  if (pairs.empty()) return {};
  PendingRequest request;
  request.probabilities.resize(pairs.size());
  request.remaining = pairs.size();

  std::unique_lock lock(mutex_);
  auto batch = static_cast<size_t>(options_.batchSize);
  for (size_t offset = 0; offset < pairs.size(); offset += batch)
    queue_.push_back({&request, offset,
                      std::span(pairs).subspan(offset, std::min(batch, pairs.size() - offset))});
  workAvailable_.notify_all();
  workDone_.wait(lock, [&] { return request.remaining == 0; });

  if (!request.error.empty()) fail("{}", request.error);
  return std::move(request.probabilities);
}

void BatchingPredictor::runWorker(CompiledModel& model) {
  // OpenMP's thread count is a setting of each thread: the worker's own starts at the default.
  setThreadCount(options_.threads);
  auto batch = static_cast<size_t>(options_.batchSize);
  std::unique_lock lock(mutex_);
  while (true) {
    workAvailable_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and every request has been answered

    // Whole chunks, in arrival order, as long as they fit one batch.
    std::vector<Chunk> taken;
    size_t size = 0;
    while (!queue_.empty() && size + queue_.front().pairs.size() <= batch) {
      size += queue_.front().pairs.size();
      taken.push_back(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();

    std::vector<std::pair<std::string, std::string>> inputs;
    inputs.reserve(size);
    for (const Chunk& chunk : taken)
      inputs.insert(inputs.end(), chunk.pairs.begin(), chunk.pairs.end());
    std::vector<float> probabilities;
    std::string error;
    try {
      probabilities = model.predictPairs(inputs);
    } catch (const std::exception& exception) {
      error = exception.what();
    }

    lock.lock();
    size_t position = 0;
    for (const Chunk& chunk : taken) {
      if (error.empty())
        std::copy_n(
            probabilities.begin() + static_cast<std::ptrdiff_t>(position), chunk.pairs.size(),
            chunk.request->probabilities.begin() + static_cast<std::ptrdiff_t>(chunk.offset));
      else
        chunk.request->error = error;
      position += chunk.pairs.size();
      chunk.request->remaining -= chunk.pairs.size();
    }
    workDone_.notify_all();
  }
}

}  // namespace dlc::serve
