// A malformed graph or a weight that does not fit is a clear error, never a crash: shapes that do
// not fit an op, graphs the verifier must refuse, weights that are missing, misnamed, of the wrong
// shape or dtype, through the API, the executors and `dlc weights import`. And safetensors round
// trips: what `dlc weights export` writes, `import` then `export` writes again byte for byte.
#include <gtest/gtest.h>

#include <algorithm>

#include "ir/builder.h"
#include "ir/verifier.h"
#include "runtime/safetensors.h"
#include "runtime/session.h"
#include "runtime/weights.h"
#include "support/error.h"
#include "tests/test_support.h"

namespace dlc {
namespace {

using testing::sourcePath;

const std::string kModel = sourcePath("tests/data/golden/siamese_sigmoid.model.json");

/// Runs `call` and returns the message of the dlc::Error it must throw.
template <typename Call>
std::string errorOf(Call call) {
  try {
    call();
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "no dlc::Error was thrown";
  return "";
}

void expectMentions(const std::string& message, const std::vector<std::string>& parts) {
  for (const std::string& part : parts)
    EXPECT_NE(message.find(part), std::string::npos) << "expected '" << part << "' in: " << message;
}

TEST(MalformedGraph, AShapeMismatchNamesTheLayerTheOpAndBothShapes) {
  ir::Graph graph;
  ir::ValueId a = graph.addWeight("a", {DType::Float32, {3, 4}}, true);
  ir::ValueId b = graph.addWeight("b", {DType::Float32, {5, 2}}, true);
  ir::Builder builder(graph, "dense");
  std::string message = errorOf([&] { builder.matmul(a, b); });
  expectMentions(message, {"layer 'dense'", "matmul", "f32[3, 4]", "f32[5, 2]"});
  EXPECT_TRUE(graph.ops().empty());

  expectMentions(errorOf([&] { builder.add(a, b); }), {"layer 'dense'", "do not broadcast"});
}

TEST(MalformedGraph, TheVerifierRefusesWhatPassesMustNotLeave) {
  auto valid = [] {
    ir::Graph graph;
    ir::ValueId x = graph.addWeight("x", {DType::Float32, {2, 3}}, true);
    ir::Builder builder(graph, "layer");
    ir::ValueId y = builder.unary(ir::OpKind::Tanh, x);
    graph.addOutput("z", builder.scale(y, 2));
    return graph;
  };
  EXPECT_NO_THROW(ir::verifyGraph(valid()));

  ir::Graph wrongType = valid();
  wrongType.mutableValue(wrongType.ops()[0].result).type.shape = {3, 2};
  expectMentions(errorOf([&] { ir::verifyGraph(wrongType); }),
                 {"op #", "from 'layer'", "disagrees with its shape rule"});

  ir::Graph outOfOrder = valid();
  std::swap(outOfOrder.mutableOps()[0], outOfOrder.mutableOps()[1]);
  expectMentions(errorOf([&] { ir::verifyGraph(outOfOrder); }), {"before it is defined"});

  ir::Graph danglingOutput = valid();
  danglingOutput.addOutput("nothing", danglingOutput.newResult({DType::Float32, {1}}));
  expectMentions(errorOf([&] { ir::verifyGraph(danglingOutput); }),
                 {"output 'nothing' is not defined"});

  ir::Graph updatesAResult = valid();
  ir::ValueId result = updatesAResult.ops()[0].result;
  updatesAResult.mutableOps().push_back(
      {ir::OpKind::Assign, {result, result}, ir::kNoValue, {}, {}});
  expectMentions(errorOf([&] { ir::verifyGraph(updatesAResult); }), {"not a weight or state"});
}

/// The model's weights, freshly initialized, and its analysis.
struct ModelAndWeights {
  testing::ParsedModel parsed = testing::parseModelJson(testing::readText(kModel), kModel);
  TensorMap weights = initializeWeights(parsed.analysis, 1);
};

TEST(MalformedGraph, WeightsThatDoNotFitTheModelAreRefusedByName) {
  ModelAndWeights model;
  EXPECT_NO_THROW(checkWeights(model.weights, model.parsed.analysis, "w.safetensors"));

  TensorMap missing = model.weights;
  missing.erase("lstm/bias");
  expectMentions(errorOf([&] { checkWeights(missing, model.parsed.analysis, "w.safetensors"); }),
                 {"w.safetensors", "'lstm/bias' is missing"});

  TensorMap wrongShape = model.weights;
  wrongShape["lstm/kernel"] = Tensor(DType::Float32, {8, 12});
  expectMentions(errorOf([&] { checkWeights(wrongShape, model.parsed.analysis, "w.safetensors"); }),
                 {"'lstm/kernel' must be f32[8, 24], got f32[8, 12]"});

  TensorMap wrongDtype = model.weights;
  wrongDtype["dense/bias"] = Tensor(DType::Int32, {1});
  expectMentions(errorOf([&] { checkWeights(wrongDtype, model.parsed.analysis, "w.safetensors"); }),
                 {"'dense/bias' must be f32[1], got i32[1]"});

  TensorMap extra = model.weights;
  extra["dense/kernal"] = Tensor(DType::Float32, {1, 1});
  expectMentions(errorOf([&] { checkWeights(extra, model.parsed.analysis, "w.safetensors"); }),
                 {"'dense/kernal' is not a weight of this model"});
}

TEST(MalformedGraph, ExecutorsRefuseAWeightOfAnotherShapeOrDtype) {
  ModelAndWeights model;
  for (ExecutorKind executor : {ExecutorKind::Jit, ExecutorKind::Reference}) {
    SessionOptions options;
    options.batchSize = 2;
    options.executor = executor;
    Session session(model.parsed.model, model.parsed.analysis, options);
    expectMentions(errorOf([&] {
                     session.setWeights({{"lstm/kernel", Tensor(DType::Float32, {8, 12})}});
                   }),
                   {"'lstm/kernel' must be f32[8, 24], got f32[8, 12]"});
    expectMentions(errorOf([&] {
                     session.setWeights({{"dense/bias", Tensor(DType::Int32, {1})}});
                   }),
                   {"'dense/bias' must be f32[1], got i32[1]"});
    expectMentions(errorOf([&] {
                     session.setWeights({{"dense/kernal", Tensor(DType::Float32, {1, 1})}});
                   }),
                   {"no weight, state or input named 'dense/kernal'"});
  }
}

/// A safetensors file written by hand, for what writeSafetensors cannot write.
std::string handMadeSafetensors(const std::string& header, size_t dataBytes) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return bytes + header + std::string(dataBytes, '\0');
}

struct BadWeights {
  std::string name;
  std::function<void(TensorMap&, const std::string& path)> make;  // edits or writes the file
  std::vector<std::string> expected;
};

void PrintTo(const BadWeights& bad, std::ostream* stream) { *stream << bad.name; }

class BadWeightsFile : public ::testing::TestWithParam<BadWeights> {};

TEST_P(BadWeightsFile, MakesWeightsImportExitWithOneLine) {
  testing::TemporaryDirectory directory;
  std::string path = directory.path("weights.safetensors");
  ModelAndWeights model;
  GetParam().make(model.weights, path);
  if (!std::filesystem::exists(path)) writeSafetensors(path, model.weights);

  std::string output = directory.path("model.fbs"), errors;
  int status =
      testing::runDlc("weights import " + kModel + " " + path + " -o " + output, nullptr, &errors);
  EXPECT_EQ(status, 1) << errors;
  EXPECT_TRUE(errors.starts_with("dlc: error: " + path + ": ")) << errors;
  EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 1) << errors;
  expectMentions(errors, GetParam().expected);
  EXPECT_FALSE(std::filesystem::exists(output)) << "wrote a model despite the error";
}

INSTANTIATE_TEST_SUITE_P(
    Weights, BadWeightsFile,
    ::testing::Values(BadWeights{"missing_weight",
                                 [](TensorMap& w, auto&) { w.erase("embedding/embeddings"); },
                                 {"'embedding/embeddings' is missing"}},
                      BadWeights{"wrong_name",
                                 [](TensorMap& w, auto&) {
                                   w["lstm/kernal"] = w.at("lstm/kernel");
                                   w.erase("lstm/kernel");
                                 },
                                 {"'lstm/kernel' is missing (the file has 'lstm/kernal', "
                                  "which is not a weight of this model)"}},
                      BadWeights{"extra_name",
                                 [](TensorMap& w, auto&) { w["lstm/extra"] = w.at("lstm/bias"); },
                                 {"'lstm/extra' is not a weight of this model"}},
                      BadWeights{"wrong_shape",
                                 [](TensorMap& w, auto&) {
                                   w["lstm/kernel"] = Tensor(DType::Float32, {24, 8});
                                 },
                                 {"'lstm/kernel' must be f32[8, 24], got f32[24, 8]"}},
                      BadWeights{
                          "wrong_dtype",
                          [](TensorMap& w, auto&) { w["lstm/bias"] = Tensor(DType::Int32, {24}); },
                          {"'lstm/bias' must be f32[24], got i32[24]"}},
                      BadWeights{"unreadable_dtype",
                                 [](TensorMap&, const std::string& path) {
                                   testing::writeText(
                                       path, handMadeSafetensors(
                                                 R"({"dense/bias":{"dtype":"F64","shape":[1],)"
                                                 R"("data_offsets":[0,8]}})",
                                                 8));
                                 },
                                 {"'dense/bias' has dtype F64; dlc reads F32 and I32"}},
                      BadWeights{"not_safetensors",
                                 [](TensorMap&, const std::string& path) {
                                   testing::writeText(path, "not a tensor file");
                                 },
                                 {"not a safetensors file"}}),
    [](const auto& info) { return info.param.name; });

TEST(MalformedGraph, AModelFileMissingOneOfItsWeightsIsRefusedWhenRun) {
  testing::TemporaryDirectory directory;
  ModelAndWeights model;
  model.weights.erase("dense/kernel");
  model.parsed.model.weights = toSchemaTensors(model.weights);
  std::string path = directory.path("model.fbs");
  saveModel(model.parsed.model, path);

  std::string errors;
  EXPECT_EQ(
      testing::runDlc("weights export " + path + " -o " + directory.path("w"), nullptr, &errors),
      1);
  EXPECT_EQ(errors, "dlc: error: " + path + ": the weight 'dense/kernel' is missing\n");
}

TEST(MalformedGraph, InputsThatDoNotFitTheModelAreRefusedByFileAndName) {
  testing::TemporaryDirectory directory;
  auto runWith = [&](const TensorMap& inputs) {
    std::string path = directory.path("inputs.safetensors"), errors;
    writeSafetensors(path, inputs);
    EXPECT_EQ(testing::runDlc("run " + kModel + " --inputs " + path + " -o " +
                                  directory.path("out.safetensors"),
                              nullptr, &errors),
              1);
    EXPECT_TRUE(errors.starts_with("dlc: error: " + path + ": ")) << errors;
    EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 1) << errors;
    return errors;
  };
  Tensor ids = Tensor::fromInts({2, 5}, std::vector<int32_t>(10, 1));
  expectMentions(runWith({{"question1", Tensor(DType::Int32, {2, 4})}, {"question2", ids}}),
                 {"'question1' must be i32[batch, 5]", "got i32[2, 4]"});
  expectMentions(runWith({{"question1", Tensor(DType::Float32, {2, 5})}, {"question2", ids}}),
                 {"'question1' must be i32[batch, 5]", "got f32[2, 5]"});
  expectMentions(runWith({{"question1", Tensor(DType::Int32, {0, 5})},
                          {"question2", Tensor(DType::Int32, {0, 5})}}),
                 {"holds no samples"});
  expectMentions(runWith({{"question1", ids}}), {"no tensor 'question2'"});
}

TEST(Safetensors, ExportImportExportGivesTheSameBytes) {
  testing::TemporaryDirectory directory;
  std::string first = directory.path("first.safetensors");
  std::string model = directory.path("model.fbs");
  std::string second = directory.path("second.safetensors");
  ASSERT_EQ(testing::runDlc("weights export " + kModel + " --seed 7 -o " + first), 0);
  ASSERT_EQ(testing::runDlc("weights import " + kModel + " " + first + " -o " + model), 0);
  ASSERT_EQ(testing::runDlc("weights export " + model + " -o " + second), 0);

  std::string bytes = testing::readText(first);
  EXPECT_EQ(testing::readText(second), bytes);
  TensorMap weights = readSafetensors(first);
  EXPECT_EQ(weights.size(), 6u);
  // The seed matters (a model without weights is initialized from it), and was not ignored.
  ASSERT_EQ(testing::runDlc("weights export " + kModel + " --seed 8 -o " + second), 0);
  EXPECT_NE(testing::readText(second), bytes);
}

TEST(Safetensors, ImportedWeightsAreTheOnesTheModelRunsWith) {
  testing::TemporaryDirectory directory;
  std::string golden = sourcePath("tests/data/golden/siamese_sigmoid.weights.safetensors");
  std::string model = directory.path("model.fbs"), exported = directory.path("w.safetensors");
  ASSERT_EQ(testing::runDlc("weights import " + kModel + " " + golden + " -o " + model), 0);
  ASSERT_EQ(testing::runDlc("weights export " + model + " -o " + exported), 0);

  TensorMap expected = readSafetensors(golden), actual = readSafetensors(exported);
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [name, tensor] : expected) {
    ASSERT_TRUE(actual.count(name)) << name;
    EXPECT_EQ(actual.at(name).shape(), tensor.shape()) << name;
    std::span<const std::byte> a = actual.at(name).bytes(), b = tensor.bytes();
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << name;
  }
}

}  // namespace
}  // namespace dlc
