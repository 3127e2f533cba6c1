// dlc train, dlc evaluate, dlc predict.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "frontend/lowering.h"
#include "frontend/model_io.h"
#include "frontend/summary.h"
#include "ir/printer.h"
#include "runtime/metrics.h"
#include "runtime/quora_data.h"
#include "runtime/text_pipeline.h"
#include "runtime/trainer.h"
#include "support/error.h"
#include "support/file_io.h"
#include "tools/commands.h"
#include "tools/interruption.h"

namespace dlc::tools {

namespace {

/// Reads a data file and says, in one line, how many rows it skipped and why.
std::vector<QuestionPair> readPairs(const std::string& path) {
  QuoraDataset data = readQuoraPairs(path);
  int64_t skipped = data.skippedEmptyQuestion + data.skippedBadLabel;
  if (skipped > 0)
    fmt::print(stderr,
               "dlc: warning: {}: skipped {} row{} ({} with an empty question, {} with a "
               "label other than 0 or 1)\n",
               path, skipped, skipped == 1 ? "" : "s", data.skippedEmptyQuestion,
               data.skippedBadLabel);
  if (data.pairs.empty()) fail("{}: has no usable question pairs", path);
  return std::move(data.pairs);
}

/// Whether two paths name one file (false if either does not exist).
bool sameFile(const std::string& a, const std::string& b) {
  std::error_code error;
  return std::filesystem::equivalent(a, b, error);
}

/// A model's layers as the IR its inference graph lowers to: what a checkpoint must share with
/// the model it continues.
std::string layersOf(const LoadedModel& loaded) {
  return ir::printGraph(lowerModel(loaded.model, loaded.analysis, {1, false}));
}

struct TrainCommandOptions {
  std::string model, data, output, checkpoint;
  bool resume = false;
  TrainOptions train;
};

void runTraining(TrainCommandOptions& options) {
  if (options.output.empty()) fail("--out: name the trained model file to write");
  std::string checkpoint =
      options.checkpoint.empty() ? options.output + ".checkpoint" : options.checkpoint;
  if (sameFile(checkpoint, options.model))
    fail("--checkpoint {}: is the model being trained, which checkpoints would overwrite",
         checkpoint);
  // A trained model has weights, which only the binary form holds.
  for (const std::string& path : {options.output, checkpoint})
    if (modelFormOf(path) != ModelForm::Binary)
      fail("{}: a trained model has weights, which the JSON form does not hold: name it .fbs",
           path);

  // Found out now rather than after the epochs.
  checkWritable(options.output);
  checkWritable(checkpoint);

  // Each line of progress goes out as soon as it is printed, even into a pipe; an interruption
  // says what it leaves.
  std::setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);
  describeInterruption(
      checkpoint,
      fmt::format("dlc: training interrupted; the last checkpoint is {} (--resume "
                  "goes on from it)",
                  checkpoint),
      "dlc: training interrupted before its first checkpoint; nothing was written");

  // --resume starts from the checkpoint when there is one: its weights, optimizer state,
  // tokenizer and progress.
  bool resuming = options.resume && std::filesystem::exists(checkpoint);
  if (options.resume && !resuming)
    fmt::print(stderr, "dlc: warning: --resume: no checkpoint at {}; training from the start\n",
               checkpoint);
  LoadedModel loaded = loadAnalyzedModel(resuming ? checkpoint : options.model);
  preprocessingOf(loaded.model, loaded.analysis.source);  // questions become ids through it
  if (resuming && layersOf(loaded) != layersOf(loadAnalyzedModel(options.model)))
    fail("{}: is a checkpoint of another model than {} (their layers differ)", checkpoint,
         options.model);
  if (resuming && loaded.model.training)
    fmt::print("Resuming from {} after epoch {}\n", checkpoint, loaded.model.training->epochs_done);
  else if (loaded.model.training)
    loaded.model.training->epochs_done = 0;

  std::vector<QuestionPair> pairs = readPairs(options.data);
  options.train.checkpointPath = checkpoint;
  options.train.log = &std::cout;
  TrainSettings settings = trainSettings(loaded.model, options.train);
  fmt::print("Training on {} pairs ({:.0f} % held out for validation), batch {}, {} epoch{}\n",
             pairs.size(), 100 * settings.validationSplit, settings.batchSize, settings.epochs,
             settings.epochs == 1 ? "" : "s");
  std::vector<EpochResult> epochs =
      trainModel(loaded.model, loaded.analysis, pairs, options.train, options.data);
  if (epochs.empty() && loaded.model.training)
    fmt::print("Nothing to train: {} epochs of {} are done already (raise --epochs to go on)\n",
               loaded.model.training->epochs_done, settings.epochs);
  saveModel(loaded.model, options.output);
  fmt::print("Saved the trained model to {}\n", options.output);
}

struct EvaluateOptions {
  std::string model, data;
  bool json = false;
  int64_t batchSize = 256;
  int threads = 1;
};

void evaluate(const EvaluateOptions& options) {
  LoadedModel loaded = loadAnalyzedModel(options.model);
  std::vector<QuestionPair> pairs = readPairs(options.data);
  EncodedPairs encoded = PairEncoder(loaded.model, options.model).encode(pairs);
  std::vector<float> probabilities = predictProbabilities(loaded.model, loaded.analysis, encoded,
                                                          options.batchSize, options.threads);
  BinaryMetrics metrics = metricsWithLoss(probabilities, encoded.labels, lossOf(loaded.model));

  if (options.json) {
    nlohmann::json report = {{"pairs", encoded.count},
                             {"loss", metrics.loss},
                             {"accuracy", metrics.accuracy},
                             {"precision", metrics.precision},
                             {"recall", metrics.recall},
                             {"f1", metrics.f1},
                             {"auc", metrics.auc},
                             {"confusion_matrix",
                              {{"true_negatives", metrics.trueNegatives},
                               {"false_positives", metrics.falsePositives},
                               {"false_negatives", metrics.falseNegatives},
                               {"true_positives", metrics.truePositives}}}};
    fmt::print("{}\n", report.dump());
    return;
  }
  fmt::print("Evaluated {} pair{} from {}\n", encoded.count, encoded.count == 1 ? "" : "s",
             options.data);
  fmt::print(
      "loss: {:.4f}  accuracy: {:.4f}  precision: {:.4f}  recall: {:.4f}  f1: {:.4f}  "
      "auc: {:.4f}\n",
      metrics.loss, metrics.accuracy, metrics.precision, metrics.recall, metrics.f1, metrics.auc);
  fmt::print("confusion matrix (rows: actual, columns: predicted)\n");
  fmt::print("                 not duplicate  duplicate\n");
  fmt::print("  not duplicate  {:>13}  {:>9}\n", metrics.trueNegatives, metrics.falsePositives);
  fmt::print("  duplicate      {:>13}  {:>9}\n", metrics.falseNegatives, metrics.truePositives);
}

struct PredictOptions {
  std::string model, pairsFile;
  std::vector<std::string> questions;
  int threads = 1;
};

void predict(const PredictOptions& options) {
  LoadedModel loaded = loadAnalyzedModel(options.model);
  std::vector<QuestionPair> pairs;
  if (!options.pairsFile.empty()) {
    if (!options.questions.empty()) fail("give either two questions or --pairs, not both");
    for (auto& [first, second] : readPairsToPredict(options.pairsFile))
      pairs.push_back({first, second, 0});
  } else {
    if (options.questions.size() != 2)
      fail("predict takes two questions (or --pairs FILE), got {}", options.questions.size());
    pairs.push_back({options.questions[0], options.questions[1], 0});
  }
  if (pairs.empty()) return;

  EncodedPairs encoded = PairEncoder(loaded.model, options.model).encode(pairs);
  for (float probability :
       predictProbabilities(loaded.model, loaded.analysis, encoded, 256, options.threads))
    fmt::print("{:.6f}\n", probability);
}

}  // namespace

void addTrainCommand(CLI::App& app) {
  auto* command = app.add_subcommand("train", "Train a model on a file of question pairs");
  auto options = std::make_shared<TrainCommandOptions>();
  TrainOptions& train = options->train;
  command->add_option("model", options->model, "Model file to start from")->required();
  command
      ->add_option("--data", options->data,
                   "Question pairs: TSV as shipped, Quora's TSV or Kaggle's CSV, maybe .gz")
      ->required();
  command->add_option("--out", options->output, "Trained model file to write")->required();
  command->add_option("--epochs", train.epochs, "Epochs to train (default: the model's)")
      ->check(CLI::Range(1, 100000));
  command->add_option("--batch-size", train.batchSize, "Pairs per batch (default: the model's)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  command
      ->add_option("--validation-split", train.validationSplit,
                   "Fraction of the last rows held out for validation (default: the model's)")
      ->check(CLI::Range(0.0, 0.99));
  command
      ->add_option("--learning-rate", train.learningRate,
                   "Learning rate (default: the model's optimizer setting)")
      ->check(kPositiveFiniteNumber);
  command->add_option("--seed", train.seed, "Seed of the initial weights and of the shuffling")
      ->check(kSeedNumber);
  command->add_option("--steps", train.maxSteps, "Stop after this many batches (default: no limit)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  command->add_option("--threads", train.threads, "Threads to compute with")
      ->check(CLI::Range(1, 256));
  command->add_option("--checkpoint", options->checkpoint,
                      "Checkpoint written after every epoch (default: OUT.checkpoint)");
  command->add_flag("--resume", options->resume, "Continue from the checkpoint if there is one");
  command->add_flag("--lazy-adam", train.lazyEmbeddingUpdates,
                    "Adam moves only the embedding rows a batch uses (faster; not Keras)");
  command->callback([=] { runTraining(*options); });
}

void addEvaluateCommand(CLI::App& app) {
  auto* command = app.add_subcommand("evaluate", "Measure a trained model on labelled pairs");
  auto options = std::make_shared<EvaluateOptions>();
  command->add_option("model", options->model, "Trained model file")->required();
  command->add_option("--data", options->data, "Labelled question pairs")->required();
  command->add_flag("--json", options->json, "Print the metrics as one JSON object");
  command->add_option("--batch-size", options->batchSize, "Pairs per batch")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  command->add_option("--threads", options->threads, "Threads")->check(CLI::Range(1, 256));
  command->callback([=] { evaluate(*options); });
}

void addPredictCommand(CLI::App& app) {
  auto* command =
      app.add_subcommand("predict", "Print the probability that two questions are duplicates");
  auto options = std::make_shared<PredictOptions>();
  command->add_option("model", options->model, "Trained model file")->required();
  command->add_option("questions", options->questions, "Two questions");
  command->add_option("--pairs", options->pairsFile,
                      "File of pairs, question1<TAB>question2 a line: one probability a line");
  command->add_option("--threads", options->threads, "Threads")->check(CLI::Range(1, 256));
  command->callback([=] { predict(*options); });
}

}  // namespace dlc::tools
