// Training and prediction on question pairs: what `dlc train`, `evaluate`, `predict` and
// `serve` share.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "frontend/layers.h"
#include "runtime/quora_data.h"
#include "runtime/text_pipeline.h"

namespace dlc {

/// What a run is asked for; the settings left unset come from the model's training section
/// (Keras's fit arguments), and from its defaults without one.
struct TrainOptions {
  std::optional<int> epochs;
  std::optional<int64_t> batchSize;
  /// The last fraction of the rows, before shuffling, as Keras.
  std::optional<double> validationSplit;
  std::optional<double> learningRate;  // overrides the model's optimizer setting
  /// Lazy Adam for embeddings (only the rows a batch uses move; not Keras semantics). Sets the
  /// model's Optimizer.lazy_embedding_updates, which the trained model then keeps.
  bool lazyEmbeddingUpdates = false;
  uint64_t seed = 0;
  int64_t maxSteps = 0;  // stop after this many batches in this run; 0: no limit
  int threads = 1;
  /// Written atomically after every epoch: the model with its weights, tokenizer, optimizer
  /// state and progress, so that training resumes from it.
  std::string checkpointPath;
  std::ostream* log = nullptr;  // epoch lines and the progress bar; nullptr: quiet
};

/// The settings a run uses: the options given, else the model's training section.
struct TrainSettings {
  int epochs = 1;
  int64_t batchSize = 64;
  double validationSplit = 0.1;
};
/// Throws dlc::Error naming the option if a given one is out of range (the model's own values
/// are checked when it is loaded).
TrainSettings trainSettings(const schema::ModelT& model, const TrainOptions& options);

/// The batch size of the model's training section (64 without one): what `dlc compile` builds
/// for unless told otherwise.
int64_t modelBatchSize(const schema::ModelT& model);

struct EpochResult {
  int epoch = 0;  // counted from 1
  double loss = 0, accuracy = 0;
  double validationLoss = 0, validationAccuracy = 0;  // NaN without validation rows
  double seconds = 0, samplesPerSecond = 0;
};

/// Trains `model` in place: fits its vocabulary if it has none, then runs the epochs that
/// `model.training.epochs_done` says are left, resuming from the optimizer state the model
/// carries. The last partial batch of each epoch is skipped (rows are reshuffled every epoch).
std::vector<EpochResult> trainModel(schema::ModelT& model, const ModelAnalysis& analysis,
                                    const std::vector<QuestionPair>& pairs,
                                    const TrainOptions& options, const std::string& source);

/// The model's probability for each encoded pair, in order.
std::vector<float> predictProbabilities(const schema::ModelT& model, const ModelAnalysis& analysis,
                                        const EncodedPairs& pairs, int64_t batchSize,
                                        int threads = 1);

/// The session's probability for each pair (its first output); the last batch is filled up
/// with repeats.
class Session;
std::vector<float> predictWithSession(Session& session, const EncodedPairs& pairs,
                                      const PairEncoder& encoder);

/// Lets Eigen and the runtime use this many threads.
void setThreadCount(int threads);

}  // namespace dlc
