#include "runtime/trainer.h"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <unistd.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <ostream>
#include <random>

#include "codegen/jit.h"
#include "frontend/lowering.h"
#include "frontend/model_checks.h"
#include "frontend/model_io.h"
#include "runtime/metrics.h"
#include "runtime/session.h"
#include "runtime/weights.h"
#include "support/error.h"

namespace dlc {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Keras's progress bar: "120/379 [=========>....................] - 12s 98ms/step - loss: ..."
class ProgressBar {
 public:
  ProgressBar(std::ostream* log, int64_t total)
      : log_(log), total_(total), interactive_(log && isatty(STDOUT_FILENO)) {}

  void update(int64_t done, double seconds, const std::string& metrics) {
    if (!interactive_ || (done < total_ && secondsSince(lastDraw_) < 0.1)) return;
    lastDraw_ = Clock::now();
    fmt::print(*log_, "\r{}", line(done, seconds, metrics));
    log_->flush();
  }

  void finish(int64_t done, double seconds, const std::string& metrics) {
    if (!log_) return;
    fmt::print(*log_, "{}{}\n", interactive_ ? "\r" : "", line(done, seconds, metrics));
  }

 private:
  std::string line(int64_t done, double seconds, const std::string& metrics) const {
    constexpr int kWidth = 30;
    int filled = total_ == 0 ? kWidth : static_cast<int>(kWidth * done / total_);
    std::string bar(filled, '=');
    if (filled < kWidth) bar += '>' + std::string(kWidth - filled - 1, '.');
    double perStep = done == 0 ? 0 : 1000.0 * seconds / static_cast<double>(done);
    return fmt::format("{}/{} [{}] - {:.0f}s {:.0f}ms/step - {}", done, total_, bar, seconds,
                       perStep, metrics);
  }

  std::ostream* log_;
  int64_t total_;
  bool interactive_;
  Clock::time_point lastDraw_{};
};

}  // namespace

std::vector<float> predictWithSession(Session& session, const EncodedPairs& pairs,
                                      const PairEncoder& encoder) {
  std::vector<float> probabilities;
  std::vector<int64_t> indices(pairs.count);
  std::iota(indices.begin(), indices.end(), 0);
  int64_t batch = session.batchSize();
  const std::string& output = session.graph().outputs().front().name;
  for (int64_t start = 0; start < pairs.count; start += batch) {
    int64_t size = std::min(batch, pairs.count - start);
    TensorMap inputs = makeBatch(pairs, encoder, std::span(indices).subspan(start, size), batch);
    inputs.erase(kLabelsInput);
    TensorMap outputs = session.run(inputs);
    auto predictions = outputs.at(output).data<float>();
    probabilities.insert(probabilities.end(), predictions.begin(), predictions.begin() + size);
  }
  return probabilities;
}

void setThreadCount(int threads) {
  Eigen::setNbThreads(std::max(1, threads));
  codegen::setThreadCount(threads);
}

int64_t modelBatchSize(const schema::ModelT& model) {
  return model.training ? model.training->batch_size : schema::TrainingT().batch_size;
}

TrainSettings trainSettings(const schema::ModelT& model, const TrainOptions& options) {
  schema::TrainingT defaults;
  const schema::TrainingT& training = model.training ? *model.training : defaults;
  TrainSettings settings{options.epochs.value_or(training.epochs),
                         options.batchSize.value_or(training.batch_size),
                         options.validationSplit.value_or(training.validation_split)};
  if (settings.epochs < 1) fail("--epochs must be at least 1, got {}", settings.epochs);
  if (settings.batchSize < 1) fail("--batch-size must be at least 1, got {}", settings.batchSize);
  if (!(settings.validationSplit >= 0 && settings.validationSplit < 1))
    fail("--validation-split must be in [0, 1), got {}", settings.validationSplit);
  if (options.learningRate && !(std::isfinite(*options.learningRate) && *options.learningRate > 0))
    fail("--learning-rate must be positive and finite, got {}", *options.learningRate);
  return settings;
}

std::vector<EpochResult> trainModel(schema::ModelT& model, const ModelAnalysis& analysis,
                                    const std::vector<QuestionPair>& pairs,
                                    const TrainOptions& options, const std::string& source) {
  const TrainSettings settings = trainSettings(model, options);
  setThreadCount(options.threads);
  if (!model.training) model.training = std::make_unique<schema::TrainingT>();
  schema::TrainingT& training = *model.training;
  if (!training.optimizer) training.optimizer = std::make_unique<schema::OptimizerT>();
  if (options.learningRate) training.optimizer->learning_rate = *options.learningRate;
  if (options.lazyEmbeddingUpdates) training.optimizer->lazy_embedding_updates = true;
  const int64_t batchSize = settings.batchSize;

  // Keras's validation_split: the last rows, before any shuffling.
  auto trainingRows = static_cast<int64_t>(
      std::floor(static_cast<double>(pairs.size()) * (1.0 - settings.validationSplit)));
  std::vector<QuestionPair> trainingPairs(pairs.begin(), pairs.begin() + trainingRows);
  std::vector<QuestionPair> validationPairs(pairs.begin() + trainingRows, pairs.end());
  if (trainingRows < batchSize)
    fail("{}: {} training pairs are fewer than one batch of {}", source, trainingRows, batchSize);

  // The tokenizer is fitted on the training questions only, once: a resumed run keeps it.
  if (!model.preprocessing || model.preprocessing->vocabulary.empty()) {
    std::vector<std::string> texts;
    for (const QuestionPair& pair : trainingPairs) {
      texts.push_back(pair.question1);
      texts.push_back(pair.question2);
    }
    PairEncoder::fitVocabulary(model, texts, source);
    checkTextPreprocessing(model, analysis);
  }
  PairEncoder encoder(model, source);
  EncodedPairs trainingData = encoder.encode(trainingPairs);
  EncodedPairs validationData = encoder.encode(validationPairs);

  SessionOptions trainingOptions;
  trainingOptions.batchSize = batchSize;
  trainingOptions.training = true;
  Session trainer(model, analysis, trainingOptions);
  trainer.setWeights(modelWeights(model, analysis, options.seed));
  if (!training.optimizer_state.empty()) {
    TensorMap state = fromSchemaTensors(training.optimizer_state, analysis.source);
    try {
      trainer.setOptimizerState(state);
    } catch (const Error& error) {
      fail("{}: {}", analysis.source, error.what());
    }
  }
  SessionOptions inferenceOptions;
  inferenceOptions.batchSize = batchSize;
  Session validator(model, analysis, inferenceOptions);

  // What a run that stops on a diverged loss leaves behind.
  auto keptMessage = [&] {
    if (options.checkpointPath.empty() || training.epochs_done == 0)
      return std::string("no model was written");
    return fmt::format("the checkpoint {} of epoch {} is kept", options.checkpointPath,
                       training.epochs_done);
  };

  const std::string& predictionsOutput = model.outputs.front();
  int64_t stepsPerEpoch = trainingData.count / batchSize;
  int64_t stepsThisRun = 0;
  std::vector<EpochResult> results;
  for (int epoch = training.epochs_done; epoch < settings.epochs; ++epoch) {
    if (options.maxSteps > 0 && stepsThisRun >= options.maxSteps) break;
    if (options.log) fmt::print(*options.log, "Epoch {}/{}\n", epoch + 1, settings.epochs);

    // The order of an epoch depends only on the seed and the epoch, so a resumed run sees the
    // same batches as an uninterrupted one.
    std::vector<int64_t> order(trainingData.count);
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 shuffler(options.seed * 1000003 + static_cast<uint64_t>(epoch));
    std::shuffle(order.begin(), order.end(), shuffler);

    ProgressBar progress(options.log, stepsPerEpoch);
    Clock::time_point start = Clock::now();
    double lossSum = 0;
    int64_t correct = 0, seen = 0, step = 0;
    auto metricsText = [&] {
      return fmt::format("loss: {:.4f} - accuracy: {:.4f}", lossSum / std::max<int64_t>(step, 1),
                         static_cast<double>(correct) / std::max<int64_t>(seen, 1));
    };
    for (; step < stepsPerEpoch; ++step) {
      if (options.maxSteps > 0 && stepsThisRun >= options.maxSteps) break;
      auto indices = std::span(order).subspan(step * batchSize, batchSize);
      TensorMap batch = makeBatch(trainingData, encoder, indices, batchSize);
      TensorMap outputs = trainer.run(batch);

      float loss = outputs.at(kLossOutput).data<float>()[0];
      if (!std::isfinite(loss))
        fail(
            "{}: training diverged in epoch {} at step {} (pairs {} to {} of the shuffled "
            "epoch): the loss is {}; {} (try a lower --learning-rate)",
            source, epoch + 1, step + 1, step * batchSize + 1, (step + 1) * batchSize, loss,
            keptMessage());
      lossSum += loss;
      auto predictions = outputs.at(predictionsOutput).data<float>();
      auto labels = batch.at(kLabelsInput).data<float>();
      for (size_t i = 0; i < predictions.size(); ++i)
        correct += (predictions[i] >= 0.5f) == (labels[i] >= 0.5f);
      seen += static_cast<int64_t>(predictions.size());
      ++stepsThisRun;
      ++training.steps_done;
      progress.update(step + 1, secondsSince(start), metricsText());
    }

    EpochResult result;
    result.epoch = epoch + 1;
    result.seconds = secondsSince(start);
    result.loss = lossSum / std::max<int64_t>(step, 1);
    result.accuracy = static_cast<double>(correct) / std::max<int64_t>(seen, 1);
    result.samplesPerSecond = static_cast<double>(seen) / std::max(result.seconds, 1e-9);
    result.validationLoss = result.validationAccuracy = std::nan("");
    std::string text = metricsText();
    if (validationData.count > 0) {
      validator.setWeights(trainer.weights());
      std::vector<float> predictions = predictWithSession(validator, validationData, encoder);
      BinaryMetrics validation =
          metricsWithLoss(predictions, validationData.labels, training.loss);
      result.validationLoss = validation.loss;
      result.validationAccuracy = validation.accuracy;
      text += fmt::format(" - val_loss: {:.4f} - val_accuracy: {:.4f}", validation.loss,
                          validation.accuracy);
    }
    progress.finish(step, result.seconds,
                    text + fmt::format(" - {:.0f} samples/s", result.samplesPerSecond));
    results.push_back(result);

    // Keep the model in step with the trainer; a whole epoch is a checkpoint. A finite loss
    // does not prove finite weights (an update can overflow after the last loss was taken).
    TensorMap weights = trainer.weights();
    try {
      checkWeights(weights, analysis, "the trained weights");
    } catch (const Error& error) {
      fail("{}: training diverged in epoch {}: {}; {}", source, epoch + 1, error.what(),
           keptMessage());
    }
    model.weights = toSchemaTensors(weights);
    training.optimizer_state = toSchemaTensors(trainer.optimizerState());
    if (step == stepsPerEpoch) training.epochs_done = epoch + 1;
    if (!options.checkpointPath.empty()) saveModel(model, options.checkpointPath);
  }
  return results;
}

std::vector<float> predictProbabilities(const schema::ModelT& model, const ModelAnalysis& analysis,
                                        const EncodedPairs& pairs, int64_t batchSize, int threads) {
  setThreadCount(threads);
  SessionOptions options;
  options.batchSize = std::max<int64_t>(1, std::min(batchSize, pairs.count));
  Session session(model, analysis, options);
  session.setWeights(modelWeights(model, analysis, 0));
  return predictWithSession(session, pairs, PairEncoder(model, analysis.source));
}

}  // namespace dlc
