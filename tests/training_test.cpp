// Training end to end on small data: it learns, it resumes exactly, and predicting on raw text
// agrees with running the graph on the ids.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace dlc
