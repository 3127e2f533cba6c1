// Training end to end on small data: it learns, it resumes exactly, and predicting on raw text
// agrees with running the graph on the ids.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "frontend/model_io.h"
#include "runtime/safetensors.h"
#include "runtime/trainer.h"
#include "runtime/weights.h"
#include "tests/test_support.h"

namespace dlc {
namespace {

using testing::smallSiameseModel;
using testing::TemporaryDirectory;
using testing::toyPairs;

std::string writePairsFile(const TemporaryDirectory& directory, const std::string& name,
                           const std::vector<QuestionPair>& pairs) {
  std::string text = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n";
  for (size_t i = 0; i < pairs.size(); ++i)
    text += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\n", i, 2 * i, 2 * i + 1, pairs[i].question1,
                        pairs[i].question2, static_cast<int>(pairs[i].label));
  std::string path = directory.path(name);
  testing::writeText(path, text);
  return path;
}

TEST(Training, LearnsALearnableToySet) {
  testing::ParsedModel parsed = testing::parseModelJson(smallSiameseModel(40, 8));
  TrainOptions options;
  options.epochs = 30;
  options.batchSize = 32;
  options.seed = 3;
  std::vector<EpochResult> epochs =
      trainModel(parsed.model, parsed.analysis, toyPairs(1200, 7), options, "toy");

  ASSERT_EQ(epochs.size(), 30u);
  EXPECT_LT(epochs.back().loss, 0.6 * epochs.front().loss);
  EXPECT_GT(epochs.back().accuracy, 0.85);
  EXPECT_GT(epochs.back().validationAccuracy, 0.85);  // pairs it did not train on

  // The trained model predicts unseen pairs, through its own tokenizer.
  std::vector<QuestionPair> unseen = toyPairs(200, 99);
  EncodedPairs encoded = PairEncoder(parsed.model, "toy").encode(unseen);
  std::vector<float> probabilities =
      predictProbabilities(parsed.model, parsed.analysis, encoded, 64);
  int correct = 0;
  for (size_t i = 0; i < unseen.size(); ++i)
    correct += (probabilities[i] >= 0.5f) == (unseen[i].label >= 0.5f);
  EXPECT_GT(correct, 170);
}

TEST(Training, ValidationLossIsTheLossTheModelTrainsWith) {
  std::string json = smallSiameseModel(40, 8);
  json.replace(json.find(R"("training": {)"), 13, R"("training": { "loss": "MeanSquaredError",)");
  testing::ParsedModel parsed = testing::parseModelJson(json);
  TrainOptions options;
  options.epochs = 1;
  options.batchSize = 32;
  options.validationSplit = 0.25;
  std::vector<QuestionPair> pairs = toyPairs(400, 7);
  std::vector<EpochResult> epochs =
      trainModel(parsed.model, parsed.analysis, pairs, options, "toy");

  std::vector<QuestionPair> validation(pairs.begin() + 300, pairs.end());
  EncodedPairs encoded = PairEncoder(parsed.model, "toy").encode(validation);
  std::vector<float> predictions = predictProbabilities(parsed.model, parsed.analysis, encoded, 32);
  double squared = 0;
  for (size_t i = 0; i < predictions.size(); ++i)
    squared += std::pow(predictions[i] - encoded.labels[i], 2);
  ASSERT_EQ(epochs.size(), 1u);
  EXPECT_NEAR(epochs[0].validationLoss, squared / 100, 1e-5);
}

class TrainingCli : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = directory_.path("model.json");
    testing::writeText(model_, smallSiameseModel(40, 8));
    data_ = writePairsFile(directory_, "pairs.tsv", toyPairs(400, 11));
  }

  void train(const std::string& arguments) {
    std::string errors;
    ASSERT_EQ(testing::runDlc(fmt::format("train {} --data {} --batch-size 32 --seed 5 {}", model_,
                                          data_, arguments),
                              nullptr, &errors),
              0)
        << errors;
  }

  TemporaryDirectory directory_;
  std::string model_, data_;
};

TEST_F(TrainingCli, ResumingAfterAnInterruptionGivesTheSameModel) {
  std::string straight = directory_.path("straight.fbs");
  train("--epochs 3 --out " + straight);

  // The first run stops after one epoch, as if it had been killed during the second.
  std::string resumed = directory_.path("resumed.fbs");
  train("--epochs 1 --out " + resumed);
  ASSERT_EQ(loadModel(resumed + ".checkpoint").training->epochs_done, 1);
  train("--epochs 3 --resume --out " + resumed);

  schema::ModelT a = loadModel(straight);
  schema::ModelT b = loadModel(resumed);
  EXPECT_EQ(b.training->epochs_done, 3);
  TensorMap weightsA = fromSchemaTensors(a.weights, straight);
  TensorMap weightsB = fromSchemaTensors(b.weights, resumed);
  ASSERT_EQ(weightsA.size(), 6u);
  for (const auto& [name, tensor] : weightsA) {
    auto expected = tensor.data<float>();
    auto actual = weightsB.at(name).data<float>();
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), actual.begin())) << name;
  }
  EXPECT_EQ(a.preprocessing->vocabulary, b.preprocessing->vocabulary);
}

TEST_F(TrainingCli, PredictOnRawTextAgreesWithRunOnTheIds) {
  std::string trained = directory_.path("trained.fbs");
  train("--epochs 1 --out " + trained);

  const std::string first = "How do I learn physics?";
  const std::string second = "Why should I care about physics?";
  std::string printed;
  ASSERT_EQ(testing::runDlc(fmt::format("predict {} '{}' '{}'", trained, first, second), &printed),
            0);

  schema::ModelT model = loadModel(trained);
  PairEncoder encoder(model, trained);
  TensorMap inputs;
  inputs["q1"] = Tensor::fromInts({1, 8}, encoder.encode(first));
  inputs["q2"] = Tensor::fromInts({1, 8}, encoder.encode(second));
  std::string inputsPath = directory_.path("ids.safetensors");
  std::string outputsPath = directory_.path("out.safetensors");
  writeSafetensors(inputsPath, inputs);
  ASSERT_EQ(
      testing::runDlc(fmt::format("run {} --inputs {} -o {}", trained, inputsPath, outputsPath)),
      0);
  float probability = readSafetensors(outputsPath).at("dense").data<float>()[0];
  EXPECT_NEAR(std::stof(printed), probability, 1e-6);
  EXPECT_GT(probability, 0.0f);
  EXPECT_LT(probability, 1.0f);
}

TEST_F(TrainingCli, EvaluateReportsEveryMetricAsJson) {
  std::string trained = directory_.path("trained.fbs");
  train("--epochs 2 --out " + trained);
  std::string printed;
  ASSERT_EQ(testing::runDlc(fmt::format("evaluate {} --data {} --json", trained, data_), &printed),
            0);
  nlohmann::json report = nlohmann::json::parse(printed);
  for (const char* key : {"loss", "accuracy", "precision", "recall", "f1", "auc"})
    EXPECT_TRUE(report.contains(key)) << key;
  EXPECT_EQ(report["pairs"], 400);
  EXPECT_GT(report["auc"].get<double>(), 0.5);
}

TEST_F(TrainingCli, EvaluateReportsTheLossTheModelTrainsWith) {
  std::string json = smallSiameseModel(40, 8);
  json.replace(json.find(R"("training": {)"), 13, R"("training": { "loss": "MeanSquaredError",)");
  testing::writeText(model_, json);
  std::string trained = directory_.path("trained.fbs"), printed;
  train("--epochs 1 --out " + trained);
  ASSERT_EQ(testing::runDlc(fmt::format("evaluate {} --data {} --json", trained, data_), &printed),
            0);

  schema::ModelT model = loadModel(trained);
  EncodedPairs encoded = PairEncoder(model, trained).encode(toyPairs(400, 11));
  std::vector<float> predictions =
      predictProbabilities(model, analyzeModel(model, trained), encoded, 64);
  double squared = 0;
  for (size_t i = 0; i < predictions.size(); ++i)
    squared += std::pow(predictions[i] - encoded.labels[i], 2);
  EXPECT_NEAR(nlohmann::json::parse(printed)["loss"].get<double>(), squared / 400, 1e-5);
}

TEST_F(TrainingCli, AModelWithoutTextPreprocessingIsNamedBeforeTraining) {
  std::string json = smallSiameseModel(40, 8);
  // The section is the last of the model: from the comma before it to its closing brace.
  size_t section = json.rfind(',', json.find(R"("preprocessing")"));
  testing::writeText(model_, json.erase(section, json.find('}', section) + 1 - section));
  std::string printed, errors;
  EXPECT_EQ(testing::runDlc(fmt::format("train {} --data {} --out {}", model_, data_,
                                        directory_.path("trained.fbs")),
                            &printed, &errors),
            1);
  EXPECT_EQ(errors, "dlc: error: " + model_ + ": the model has no text preprocessing section\n");
  EXPECT_EQ(printed, "");
}

TEST_F(TrainingCli, ADivergingRunStopsWithAClearMessageAndWritesNoModel) {
  std::string trained = directory_.path("trained.fbs");
  std::string errors;
  EXPECT_EQ(testing::runDlc(fmt::format("train {} --data {} --batch-size 32 --epochs 2 "
                                        "--learning-rate 1e38 --out {}",
                                        model_, data_, trained),
                            nullptr, &errors),
            1);
  EXPECT_NE(errors.find(data_ + ": training diverged in epoch 1"), std::string::npos) << errors;
  EXPECT_NE(errors.find("no model was written"), std::string::npos) << errors;
  EXPECT_FALSE(std::filesystem::exists(trained));
  EXPECT_FALSE(std::filesystem::exists(trained + ".checkpoint"));
}

TEST_F(TrainingCli, TheModelsTrainingSectionGivesTheDefaultsAndOptionsOverrideThem) {
  std::string model = directory_.path("settings.json");
  std::string json = smallSiameseModel(40, 8);
  json.replace(json.find(R"("training": {)"), 13,
               R"("training": { "batch_size": 40, "epochs": 2, "validation_split": 0.25,)");
  testing::writeText(model, json);

  // 400 pairs, 300 of them for training: 7 batches of 40 an epoch.
  std::string trained = directory_.path("defaults.fbs"), printed, errors;
  ASSERT_EQ(testing::runDlc(fmt::format("train {} --data {} --out {}", model, data_, trained),
                            &printed, &errors),
            0)
      << errors;
  EXPECT_NE(printed.find("(25 % held out for validation), batch 40, 2 epochs"), std::string::npos)
      << printed;
  EXPECT_NE(printed.find("Epoch 2/2"), std::string::npos) << printed;
  EXPECT_EQ(loadModel(trained).training->epochs_done, 2);
  EXPECT_EQ(loadModel(trained).training->steps_done, 14);

  // 360 pairs for training: 7 batches of 50.
  std::string overridden = directory_.path("overridden.fbs");
  ASSERT_EQ(testing::runDlc(fmt::format("train {} --data {} --out {} --epochs 1 --batch-size 50 "
                                        "--validation-split 0.1",
                                        model, data_, overridden),
                            &printed, &errors),
            0)
      << errors;
  EXPECT_EQ(loadModel(overridden).training->epochs_done, 1);
  EXPECT_EQ(loadModel(overridden).training->steps_done, 7);

  // dlc compile builds for the model's batch size unless --batch says otherwise.
  ASSERT_EQ(testing::runDlc(fmt::format("compile {} --emit=ir-lowered", model), &printed), 0);
  EXPECT_NE(printed.find("i32[40, 8]"), std::string::npos) << printed;
  ASSERT_EQ(testing::runDlc(fmt::format("compile {} --emit=ir-lowered --batch 3", model), &printed),
            0);
  EXPECT_NE(printed.find("i32[3, 8]"), std::string::npos) << printed;
}

TEST_F(TrainingCli, ALearningRateThatIsNotAPositiveNumberIsRefused) {
  for (const char* rate : {"nan", "inf", "-1"}) {
    std::string trained = directory_.path("trained.fbs"), errors;
    EXPECT_EQ(testing::runDlc(fmt::format("train {} --data {} --learning-rate {} --out {}", model_,
                                          data_, rate, trained),
                              nullptr, &errors),
              1)
        << rate;
    EXPECT_NE(errors.find("--learning-rate: expected a finite number above 0, got "),
              std::string::npos)
        << errors;
    EXPECT_FALSE(std::filesystem::exists(trained));
  }
}

/// Starts `dlc arguments...` with stdout and stderr going to `logPath`; returns its pid.
pid_t startDlc(const std::vector<std::string>& arguments, const std::string& logPath) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, logPath.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> words = {DLC_BINARY};
  words.insert(words.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int failed = posix_spawn(&pid, DLC_BINARY, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return failed == 0 ? pid : -1;
}

/// The whole model file (weights and optimizer state included) in a form that compares equal
/// exactly when two runs trained the same model.
TensorMap weightsAndState(const schema::ModelT& model, const std::string& path) {
  TensorMap tensors = fromSchemaTensors(model.weights, path);
  tensors.merge(fromSchemaTensors(model.training->optimizer_state, path));
  return tensors;
}

/// The file's inode, or 0 if there is none: an atomic write puts a new inode under the name.
ino_t inodeOf(const std::string& path) {
  struct stat status;
  return ::stat(path.c_str(), &status) == 0 ? status.st_ino : 0;
}

/// A dlc process being watched: whether it has ended, and how.
struct Child {
  pid_t pid = -1;
  int status = 0;
  bool ended = false;

  bool poll() {
    if (!ended && waitpid(pid, &status, WNOHANG) == pid) ended = true;
    return ended;
  }
  void wait() {
    if (!ended && waitpid(pid, &status, 0) == pid) ended = true;
  }
  bool succeeded() const { return ended && WIFEXITED(status) && WEXITSTATUS(status) == 0; }
  bool killed() const { return ended && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }
};

TEST(KilledTraining, ResumesToTheModelOfAnUninterruptedRunAndNeverLeavesAHalfWrittenFile) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kPoll = std::chrono::milliseconds(1);
  TemporaryDirectory directory;
  std::string model = directory.path("model.json");
  testing::writeText(model, smallSiameseModel(40, 8));
  std::string data = writePairsFile(directory, "pairs.tsv", toyPairs(3000, 13));
  auto trainArguments = [&](const std::string& output) {
    return std::vector<std::string>{"train",    model,    "--data", data,       "--batch-size",
                                    "32",       "--seed", "5",      "--epochs", "6",
                                    "--resume", "--out",  output};
  };

  // The uninterrupted run, watched to learn how long an epoch takes (checkpoint to checkpoint).
  std::string straight = directory.path("straight.fbs");
  Child child{startDlc(trainArguments(straight), directory.path("straight.log"))};
  ASSERT_GT(child.pid, 0);
  std::vector<Clock::time_point> checkpointTimes;
  for (ino_t seen = 0; !child.poll(); std::this_thread::sleep_for(kPoll)) {
    ino_t now = inodeOf(straight + ".checkpoint");
    if (now == seen) continue;
    seen = now;
    checkpointTimes.push_back(Clock::now());
  }
  ASSERT_TRUE(child.succeeded()) << testing::readText(directory.path("straight.log"));
  ASSERT_GE(checkpointTimes.size(), 2u);
  double epochSeconds =
      std::chrono::duration<double>(checkpointTimes.back() - checkpointTimes.front()).count() /
      static_cast<double>(checkpointTimes.size() - 1);

  // Each run but the last is killed at a random moment of the two epochs after the first
  // checkpoint it writes: within an epoch, while validating, or while writing a file.
  std::string killed = directory.path("killed.fbs");
  std::string checkpoint = killed + ".checkpoint";
  std::vector<pid_t> killedPids;
  int epochsDone = 0, resumedRuns = 0;
  std::mt19937_64 generator(2024);
  std::uniform_real_distribution<double> moment(0.0, 2.0);
  for (int run = 0;; ++run) {
    std::string log = directory.path(fmt::format("run{}.log", run));
    ino_t before = inodeOf(checkpoint);
    child = Child{startDlc(trainArguments(killed), log)};
    ASSERT_GT(child.pid, 0);
    if (run < 4) {
      while (!child.poll() && inodeOf(checkpoint) == before) std::this_thread::sleep_for(kPoll);
      std::this_thread::sleep_for(std::chrono::duration<double>(moment(generator) * epochSeconds));
      if (!child.poll()) kill(child.pid, SIGKILL);
    }
    child.wait();
    ASSERT_TRUE(child.succeeded() || child.killed()) << testing::readText(log);
    if (child.killed()) killedPids.push_back(child.pid);

    // A run that found a checkpoint went on from the one the last run left. (A killed run may
    // have lost its buffered output; the lines come in order, so both or neither are there.)
    std::string printed = testing::readText(log);
    if (epochsDone > 0 && printed.find("Training on") != std::string::npos) {
      EXPECT_NE(printed.find(fmt::format("after epoch {}\n", epochsDone)), std::string::npos)
          << printed;
      ++resumedRuns;
    }

    // Under the names dlc writes, every file is whole: it loads, its checksum matches.
    if (std::filesystem::exists(checkpoint)) {
      schema::ModelT saved = loadModel(checkpoint);
      EXPECT_GE(saved.training->epochs_done, epochsDone);
      epochsDone = saved.training->epochs_done;
    }
    if (std::filesystem::exists(killed)) {
      EXPECT_NO_THROW(loadModel(killed));
    }
    if (child.succeeded()) break;
  }
  EXPECT_GT(resumedRuns, 0) << "no run resumed from a checkpoint: the test proved nothing";
  EXPECT_FALSE(killedPids.empty()) << "no run was killed: the test proved nothing";

  // Files that are not dlc's to read: only the temporary files of killed writers.
  for (const auto& entry : std::filesystem::directory_iterator(directory.path(""))) {
    std::string name = entry.path().filename().string();
    size_t temporary = name.find(".tmp-");
    if (temporary == std::string::npos) continue;
    pid_t writer = std::stoi(name.substr(temporary + 5));
    EXPECT_NE(std::find(killedPids.begin(), killedPids.end(), writer), killedPids.end()) << name;
  }

  schema::ModelT expected = loadModel(straight);
  schema::ModelT actual = loadModel(killed);
  EXPECT_EQ(actual.training->epochs_done, 6);
  TensorMap expectedTensors = weightsAndState(expected, straight);
  TensorMap actualTensors = weightsAndState(actual, killed);
  ASSERT_EQ(expectedTensors.size(), actualTensors.size());
  for (const auto& [name, tensor] : expectedTensors) {
    ASSERT_TRUE(actualTensors.count(name)) << name;
    EXPECT_TRUE(std::equal(tensor.bytes().begin(), tensor.bytes().end(),
                           actualTensors.at(name).bytes().begin()))
        << name;
  }
}

TEST_F(TrainingCli, FindsAnUnwritableOutputBeforeTraining) {
  std::string fifo = directory_.path("fifo.fbs");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  std::string missing = directory_.path("missing/trained.fbs");
  for (const std::string& outputs :
       {"--out " + missing, "--out " + fifo,
        "--out " + directory_.path("trained.fbs") + " --checkpoint " + missing}) {
    std::string printed, errors;
    EXPECT_EQ(testing::runDlc(fmt::format("train {} --data {} {}", model_, data_, outputs),
                              &printed, &errors),
              1);
    EXPECT_TRUE(errors.starts_with("dlc: error: " + fifo + ": cannot write") ||
                errors.starts_with("dlc: error: " + missing + ": cannot write"))
        << errors;
    EXPECT_EQ(printed.find("Epoch"), std::string::npos) << printed;
  }
  EXPECT_FALSE(std::filesystem::exists(directory_.path("trained.fbs")));
}

TEST_F(TrainingCli, ACheckpointMustNeitherBeTheModelNorComeFromAnotherOne) {
  // A model file that checkpoints could overwrite: a binary one.
  std::string first = directory_.path("first.fbs");
  train("--epochs 1 --out " + first);
  std::string before = testing::readText(first);
  std::string errors;
  EXPECT_EQ(testing::runDlc(fmt::format("train {} --data {} --epochs 2 --out {} --checkpoint {}",
                                        first, data_, directory_.path("again.fbs"), first),
                            nullptr, &errors),
            1);
  EXPECT_NE(errors.find("--checkpoint " + first +
                        ": is the model being trained, which checkpoints would overwrite"),
            std::string::npos)
      << errors;
  EXPECT_EQ(testing::readText(first), before);
  // The JSON model itself is named as such too, not as a form that cannot hold weights.
  EXPECT_EQ(testing::runDlc(fmt::format("train {} --data {} --out {} --checkpoint {}", model_,
                                        data_, directory_.path("again.fbs"), model_),
                            nullptr, &errors),
            1);
  EXPECT_NE(errors.find("--checkpoint " + model_ + ": is the model being trained"),
            std::string::npos)
      << errors;

  std::string arguments = fmt::format("train {} --data {} --epochs 1 --out {}", model_, data_,
                                      directory_.path("trained.fbs"));

  // A checkpoint of a model with other layers is not resumed from.
  std::string other = directory_.path("other.json");
  testing::writeText(other, smallSiameseModel(40, 4));
  std::string otherTrained = directory_.path("other.fbs");
  ASSERT_EQ(testing::runDlc(fmt::format("train {} --data {} --epochs 1 --out {}", other, data_,
                                        otherTrained)),
            0);
  EXPECT_EQ(testing::runDlc(arguments + " --resume --checkpoint " + otherTrained + ".checkpoint",
                            nullptr, &errors),
            1);
  EXPECT_NE(errors.find("is a checkpoint of another model than " + model_ +
                        " (their layers differ)"),
            std::string::npos)
      << errors;
  EXPECT_FALSE(std::filesystem::exists(directory_.path("trained.fbs")));
}

TEST_F(TrainingCli, QuestionsWithoutWordsAreRefused) {
  // The small model filters "?" only.
  std::vector<QuestionPair> punctuation(100, QuestionPair{"??", "?  ?", 1});
  std::string data = writePairsFile(directory_, "punctuation.tsv", punctuation);
  std::string errors;
  EXPECT_EQ(testing::runDlc(fmt::format("train {} --data {} --out {}", model_, data,
                                        directory_.path("trained.fbs")),
                            nullptr, &errors),
            1);
  EXPECT_NE(errors.find(data + ": the training questions hold no words once the tokenizer's "
                               "filters have run"),
            std::string::npos)
      << errors;
}

TEST_F(TrainingCli, ResumingWithoutACheckpointSaysItStartsOver) {
  std::string errors;
  ASSERT_EQ(testing::runDlc(fmt::format("train {} --data {} --epochs 1 --resume --out {}", model_,
                                        data_, directory_.path("trained.fbs")),
                            nullptr, &errors),
            0);
  EXPECT_NE(errors.find("dlc: warning: --resume: no checkpoint at " +
                        directory_.path("trained.fbs") + ".checkpoint; training from the start"),
            std::string::npos)
      << errors;
}

TEST_F(TrainingCli, ResumingAFinishedRunSaysThereIsNothingToTrain) {
  std::string trained = directory_.path("trained.fbs");
  train("--epochs 1 --out " + trained);
  std::string printed;
  ASSERT_EQ(testing::runDlc(fmt::format("train {} --data {} --batch-size 32 --epochs 1 --resume "
                                        "--out {}",
                                        model_, data_, trained),
                            &printed),
            0);
  EXPECT_NE(printed.find("Nothing to train: 1 epochs of 1 are done already"), std::string::npos)
      << printed;
  EXPECT_EQ(printed.find("Epoch 1/1"), std::string::npos) << printed;
}

/// Waits until `condition` holds or the child ends; whether the condition holds.
bool waitFor(Child& child, const std::function<bool()>& condition) {
  while (!condition()) {
    if (child.poll()) return condition();
    std::this_thread::yield();
  }
  return true;
}

/// The names in `directory` that are temporary files of atomic writes.
std::vector<std::string> temporaryFiles(const std::string& directory) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(directory))
    if (entry.path().filename().string().find(".tmp-") != std::string::npos)
      names.push_back(entry.path().filename().string());
  return names;
}

TEST(InterruptedTraining, SaysWhereTheLastCheckpointIsAndLeavesNoTemporaryFile) {
  TemporaryDirectory directory;
  std::string model = directory.path("model.json");
  testing::writeText(model, smallSiameseModel(40, 8));
  std::string data = writePairsFile(directory, "pairs.tsv", toyPairs(3000, 13));
  std::string trained = directory.path("trained.fbs");
  std::string checkpoint = trained + ".checkpoint";
  for (int signal : {SIGTERM, SIGINT}) {
    // SIGTERM as soon as training starts (before the first checkpoint, most likely); SIGINT
    // once there is a checkpoint, perhaps while the next one is written.
    std::string log = directory.path("train.log");
    Child child{startDlc({"train", model, "--data", data, "--batch-size", "8", "--epochs", "1000",
                          "--resume", "--out", trained},
                         log)};
    ASSERT_GT(child.pid, 0);
    bool started = waitFor(child, [&] {
      return signal == SIGTERM ? testing::readText(log).find("Epoch 1/") != std::string::npos
                               : std::filesystem::exists(checkpoint);
    });
    ASSERT_TRUE(started) << testing::readText(log);
    kill(child.pid, signal);
    child.wait();

    ASSERT_TRUE(WIFEXITED(child.status)) << "ended by signal " << WTERMSIG(child.status);
    EXPECT_EQ(WEXITSTATUS(child.status), 130);
    std::string printed = testing::readText(log);
    std::string expected =
        std::filesystem::exists(checkpoint)
            ? "\ndlc: training interrupted; the last checkpoint is " + checkpoint + " "
            : "\ndlc: training interrupted before its first checkpoint; nothing was written\n";
    EXPECT_NE(printed.find(expected), std::string::npos) << printed;
    EXPECT_EQ(temporaryFiles(directory.path("")), std::vector<std::string>{});
    if (std::filesystem::exists(checkpoint)) {
      EXPECT_NO_THROW(loadModel(checkpoint));
    }
    EXPECT_FALSE(std::filesystem::exists(trained));
  }
}

TEST(InterruptedWrite, LeavesNoTemporaryFile) {
  // The showcase model's fresh weights are 26 MB: long enough to write to catch one being written.
  TemporaryDirectory directory;
  std::string model = testing::sourcePath("examples/quora_siamese/model.json");
  std::string output = directory.path("weights.safetensors");
  int interrupted = 0;
  for (int attempt = 0; attempt < 20 && interrupted == 0; ++attempt) {
    std::string log = directory.path("export.log");
    Child child{startDlc({"weights", "export", model, "-o", output}, log)};
    ASSERT_GT(child.pid, 0);
    std::string temporary = fmt::format("{}.tmp-{}", output, child.pid);
    if (waitFor(child, [&] { return std::filesystem::exists(temporary); })) kill(child.pid, SIGINT);
    child.wait();
    ASSERT_TRUE(WIFEXITED(child.status)) << "ended by signal " << WTERMSIG(child.status);
    if (WEXITSTATUS(child.status) == 130) {
      ++interrupted;
      EXPECT_EQ(testing::readText(log), "dlc: interrupted\n");
    } else {
      EXPECT_EQ(WEXITSTATUS(child.status), 0) << testing::readText(log);
    }
    EXPECT_EQ(temporaryFiles(directory.path("")), std::vector<std::string>{});
    if (std::filesystem::exists(output)) {
      EXPECT_NO_THROW(readSafetensors(output));
    }
  }
  EXPECT_GT(interrupted, 0) << "no write was interrupted: the test proved nothing";
}

}  // namespace
}  // namespace dlc
