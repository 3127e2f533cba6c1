// Loading and validating model files: the binary and JSON forms of the example load the same
// model, and every kind of bad input is one dlc::Error naming the file, the layer where there is
// one, and what was expected, through the API and through `dlc summary` (exit status 1, one line
// on stderr, no crash).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "frontend/model_io.h"
#include "support/error.h"
#include "support/file_io.h"
#include "tests/test_support.h"

namespace dlc {
namespace {

using testing::sourcePath;

std::string exampleJson() {
  return testing::readText(sourcePath("examples/quora_siamese/model.json"));
}
std::string exampleBinary() {
  return testing::readText(sourcePath("examples/quora_siamese/model.fbs"));
}

/// `text` with its one occurrence of `from` replaced by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "the example no longer contains: " << from;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "more than once: " << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

const std::string kDotLayer =
    R"({ "name": "dot", "kind": "Dot", "inputs": ["lstm:0", "lstm:1"], "dot": { "axes": [1] } },)";

/// The example in binary form, changed by `change`.
std::string binaryWith(const std::function<void(schema::ModelT&)>& change) {
  std::string binary = exampleBinary();
  schema::ModelT model = parseModel(std::as_bytes(std::span(binary.data(), binary.size())), "x");
  change(model);
  return serializeModel(model);
}

std::string randomBytes(size_t count) {
  std::string bytes;
  uint64_t state = 12345;
  while (bytes.size() < count) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    bytes += static_cast<char>(state >> 56);
  }
  return bytes;
}

/// The example with another sequence length for the given inputs.
std::string withInputLength(const std::string& length, const std::vector<std::string>& inputs) {
  std::string json = exampleJson();
  for (const std::string& input : inputs)
    json = replaced(json, '"' + input + R"(", "kind": "Input", "input": { "shape": [20])",
                    '"' + input + R"(", "kind": "Input", "input": { "shape": [)" + length + "]");
  return json;
}

struct BadInput {
  std::string name;                   // also the file's stem
  std::string extension;              // ".json" or ".fbs"
  std::function<std::string()> make;  // the file's contents
  std::vector<std::string> expected;  // what the message must say, besides the file
};

void PrintTo(const BadInput& input, std::ostream* stream) { *stream << input.name; }

std::vector<BadInput> badInputs() {
  std::vector<BadInput> inputs = {
      {"empty_file", ".fbs", [] { return std::string(); }, {"the file is empty"}},
      {"random_bytes",
       ".fbs",
       [] { return randomBytes(512); },
       {"not a dlc model", "expected the identifier \"DLCM\" at byte 4"}},
      {"another_identifier",
       ".fbs",
       [] { return exampleBinary().replace(4, 4, "ABCD"); },
       {"expected the identifier \"DLCM\"", "found \"ABCD\""}},
      {"json_unknown_field",
       ".json",
       [] { return replaced(exampleJson(), R"("units": 128,)", R"("units": 128, "colour": 1,)"); },
       {"line 18", "layer 'lstm'", "unknown field: colour", "LSTMOptions has units"}},
      {"json_wrong_type_number",
       ".json",
       [] { return replaced(exampleJson(), R"("units": 128,)", R"("units": "many",)"); },
       {"layer 'lstm'", "field lstm.units", "expected an integer"}},
      {"json_wrong_type_list",
       ".json",
       [] { return replaced(exampleJson(), R"("inputs": ["dot"])", R"("inputs": "dot")"); },
       {"layer 'dense'", "field inputs", "expected a list of strings"}},
      {"json_wrong_enum",
       ".json",
       [] { return replaced(exampleJson(), R"("activation": "Tanh")", R"("activation": "Tan")"); },
       {"layer 'lstm'", "unknown enum value: Tan", "expected one of Linear, Sigmoid"}},
      {"missing_input",
       ".json",
       [] { return replaced(exampleJson(), R"("inputs": ["dot"])", R"("inputs": ["dott"])"); },
       {"layer 'dense' (Dense)", "input 'dott' is not a layer of this model"}},
      {"duplicate_layer_names",
       ".json",
       [] { return replaced(exampleJson(), R"("name": "dot")", R"("name": "lstm")"); },
       {"layer 'lstm' (Dot)", "layer names must be unique"}},
      // lstm reads dense, which reads dot, which reads lstm.
      {"cycle",
       ".json",
       [] {
         return replaced(exampleJson(), R"("inputs": ["embedding:0", "embedding:1"])",
                         R"("inputs": ["dense"])");
       },
       {"layer 'lstm' (LSTM)", "input 'dense' comes later", "no cycles"}},
      {"lstm_fed_rank_2",
       ".json",
       [] {
         return replaced(exampleJson(), kDotLayer,
                         kDotLayer + R"({ "name": "lstm_on_dot", "kind": "LSTM", )"
                                     R"("inputs": ["dot"], "lstm": { "units": 4 } },)");
       },
       {"layer 'lstm_on_dot' (LSTM)", "expects a rank-3 input", "got (None, 1)"}},
      {"dot_of_mismatched_sizes",
       ".json",
       [] {
         std::string json = replaced(exampleJson(), kDotLayer,
                                     R"({ "name": "small", "kind": "LSTM", "inputs": )"
                                     R"(["embedding:1"], "lstm": { "units": 64 } },)" +
                                         replaced(kDotLayer, "lstm:1", "small"));
         return json;
       },
       {"layer 'dot' (Dot)", "the dotted axes differ in size", "(None, 128) and (None, 64)"}},
      // Sizes that would overflow the counts, or unroll a loop without end.
      {"huge_embedding",
       ".json",
       [] {
         return replaced(exampleJson(), R"("input_dim": 50002, "output_dim": 128)",
                         R"("input_dim": 5000000000, "output_dim": 5000000000)");
       },
       {"layer 'embedding' (Embedding)", "'embedding/embeddings'", "more than 8 EiB",
        "memory limit"}},
      {"huge_input",
       ".json",
       [] { return withInputLength("4000000000000", {"input_question1"}); },
       {"layer 'input_question1' (InputLayer)", "(None, 4000000000000)", "14.6 TiB",
        "memory limit"}},
      {"huge_units",
       ".json",
       [] {
         return replaced(exampleJson(), R"("units": 128,)", R"("units": 4611686018427387904,)");
       },
       {"layer 'lstm' (LSTM)", "units must be between 1 and"}},
      {"too_many_steps",
       ".json",
       [] {
         return withInputLength("20000", {"input_question1", "input_question2"});
       },
       {"layer 'lstm' (LSTM)", "at most 10000 steps, got 20000"}},
      {"options_of_another_kind",
       ".json",
       [] {
         return replaced(exampleJson(), R"("lstm": { "units": 128,)",
                         R"("dense": { "units": 2 }, "lstm": { "units": 128,)");
       },
       {"layer 'lstm' (LSTM)", "has 'dense' options, which only a Dense layer takes"}},
      // The training section and the text preprocessing, checked against the layers.
      {"learning_rate_negative",
       ".json",
       [] {
         return replaced(exampleJson(), R"("learning_rate": 0.001)", R"("learning_rate": -1)");
       },
       {"training.optimizer.learning_rate must be finite and greater than 0, got -1"}},
      {"learning_rate_nan",
       ".json",
       [] {
         return replaced(exampleJson(), R"("learning_rate": 0.001)", R"("learning_rate": nan)");
       },
       {"training.optimizer.learning_rate must be finite", "got nan"}},
      {"epsilon_zero",
       ".json",
       [] { return replaced(exampleJson(), R"("epsilon": 1e-07)", R"("epsilon": 0)"); },
       {"training.optimizer.epsilon must be finite and greater than 0, got 0"}},
      {"beta_1_one",
       ".json",
       [] { return replaced(exampleJson(), R"("beta_1": 0.9)", R"("beta_1": 1.0)"); },
       {"training.optimizer.beta_1 must be finite and in [0, 1), got 1"}},
      {"batch_size_zero",
       ".json",
       [] { return replaced(exampleJson(), R"("batch_size": 64)", R"("batch_size": 0)"); },
       {"training.batch_size must be at least 1, got 0"}},
      {"validation_split_one",
       ".json",
       [] {
         return replaced(exampleJson(), R"("validation_split": 0.1)", R"("validation_split": 1)");
       },
       {"training.validation_split must be finite and in [0, 1), got 1"}},
      {"embedding_smaller_than_the_padding_id",
       ".json",
       [] { return replaced(exampleJson(), R"("input_dim": 50002)", R"("input_dim": 1000)"); },
       {"layer 'embedding' (Embedding)", "input_dim is 1000", "ids up to 49999",
        "padding_value 50001", "at least 50002"}},
      {"num_words_beyond_the_embedding",
       ".json",
       [] { return replaced(exampleJson(), R"("num_words": 50000)", R"("num_words": 60000)"); },
       {"layer 'embedding' (Embedding)", "input_dim is 50002", "num_words 60000",
        "at least 60000"}},
      {"num_words_negative",
       ".json",
       [] { return replaced(exampleJson(), R"("num_words": 50000)", R"("num_words": -3)"); },
       {"preprocessing.num_words must be 0 (keep every word) or positive, got -3"}},
      {"padding_value_negative",
       ".json",
       [] {
         return replaced(exampleJson(), R"("padding_value": 50001)", R"("padding_value": -1)");
       },
       {"preprocessing.padding_value must be a token id (>= 0), got -1"}},
      {"sequence_length_against_the_inputs",
       ".json",
       [] {
         return replaced(exampleJson(), R"("sequence_length": 20)", R"("sequence_length": 30)");
       },
       {"layer 'input_question1' (InputLayer)", "sequence_length is 30", "not i32 (None, 20)"}},
      {"output_wider_than_the_labels",
       ".json",
       [] { return replaced(exampleJson(), R"("units": 1,)", R"("units": 3,)"); },
       {"layer 'dense' (Dense)", "first output (None, 3)", "must be (None, 1)"}},
      {"newer_format_version_json",
       ".json",
       [] { return replaced(exampleJson(), R"("format_version": 1)", R"("format_version": 2)"); },
       {"model format version 2 is newer than this dlc reads (1)"}},
      {"newer_format_version_binary",
       ".fbs",
       [] { return binaryWith([](schema::ModelT& model) { model.format_version = 2; }); },
       {"model format version 2 is newer than this dlc reads (1)"}},
      // The FlatBuffers verifier leaves strings unchecked; one that is not UTF-8 would break the
      // JSON form and `summary --json`.
      {"layer_name_not_utf8",
       ".fbs",
       [] {
         return binaryWith([](schema::ModelT& model) { model.layers[2]->name = "emb\xFF"; });
       },
       {"layers[2].name is not valid UTF-8 (byte 3)"}},
      {"vocabulary_word_not_utf8",
       ".fbs",
       [] {
         return binaryWith([](schema::ModelT& model) {
           model.preprocessing->vocabulary = {"the", "wh\xC3", "is"};
         });
       },
       {"preprocessing.vocabulary[1] is not valid UTF-8 (byte 2)"}},
      {"layer_input_not_utf8_json",
       ".json",
       [] { return replaced(exampleJson(), R"("lstm:0")", "\"lstm\xE2\x82:0\""); },
       {"UTF-8"}},
  };

  // A valid file cut short: inside the header, just after the identifier, and further on, to
  // the terminator of the last string. (The two bytes after it are alignment padding: without
  // them the model is whole, and the FlatBuffers verifier rightly accepts it.)
  size_t size = exampleBinary().size();
  for (size_t length :
       {size_t{3}, size_t{7}, size_t{8}, size_t{16}, size / 3, size / 2, size - 8, size - 3}) {
    bool inHeader = length < 8;
    inputs.push_back({"cut_at_" + std::to_string(length),
                      ".fbs",
                      [length] { return exampleBinary().substr(0, length); },
                      {inHeader ? "expected the identifier \"DLCM\"" : "truncated or corrupt"}});
  }
  return inputs;
}

class BadModelFile : public ::testing::TestWithParam<BadInput> {
 protected:
  void SetUp() override {
    path_ = directory_.path(GetParam().name + GetParam().extension);
    testing::writeText(path_, GetParam().make());
  }

  testing::TemporaryDirectory directory_;
  std::string path_;
};

TEST_P(BadModelFile, IsOneErrorNamingTheFileTheLayerAndWhatWasExpected) {
  try {
    schema::ModelT model = loadModel(path_);
    analyzeModel(model, path_);
    FAIL() << "loaded without an error";
  } catch (const Error& error) {
    std::string message = error.what();
    EXPECT_TRUE(message.starts_with(path_ + ": ")) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const std::string& expected : GetParam().expected)
      EXPECT_NE(message.find(expected), std::string::npos)
          << "expected '" << expected << "' in: " << message;
  }
}

TEST_P(BadModelFile, MakesDlcSummaryExitWithOneLine) {
  std::string output, errors;
  int status = testing::runDlc("summary " + path_, &output, &errors);
  EXPECT_EQ(status, 1) << errors;
  EXPECT_TRUE(output.empty()) << output;
  EXPECT_TRUE(errors.starts_with("dlc: error: " + path_ + ": ")) << errors;
  EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 1) << errors;
  EXPECT_TRUE(errors.ends_with("\n")) << errors;
}

INSTANTIATE_TEST_SUITE_P(Inputs, BadModelFile, ::testing::ValuesIn(badInputs()),
                         [](const auto& info) { return info.param.name; });

TEST(ModelLoading, AJsonModelMayStartWithAByteOrderMark) {
  testing::TemporaryDirectory directory;
  std::string path = directory.path("bom.json");
  testing::writeText(path, "\xEF\xBB\xBF" + exampleJson());
  std::string withMark, without;
  EXPECT_EQ(testing::runDlc("summary " + path, &withMark), 0);
  EXPECT_EQ(testing::runDlc("summary " + sourcePath("examples/quora_siamese/model.json"), &without),
            0);
  EXPECT_EQ(withMark, without);
}

TEST(ModelLoading, ADirectoryIsOneClearError) {
  testing::TemporaryDirectory directory;
  std::string path = directory.path("models.fbs");
  std::filesystem::create_directory(path);
  std::string errors;
  EXPECT_EQ(testing::runDlc("summary " + path, nullptr, &errors), 1);
  EXPECT_EQ(errors, "dlc: error: " + path + ": cannot read: it is a directory, not a file\n");
}

TEST(ModelLoading, BinaryAndJsonFormsLoadTheSameModel) {
  schema::ModelT fromJson = loadModel(sourcePath("examples/quora_siamese/model.json"));
  schema::ModelT fromBinary = loadModel(sourcePath("examples/quora_siamese/model.fbs"));
  EXPECT_EQ(serializeModel(fromJson), serializeModel(fromBinary));
  EXPECT_EQ(fromJson.name, "quora_siamese");
  EXPECT_EQ(fromJson.layers.size(), 6u);

  // And the JSON that dlc writes reads back as the same model.
  std::string json = modelToJson(fromBinary, "x.json");
  schema::ModelT again = parseModel(std::as_bytes(std::span(json.data(), json.size())), "x.json");
  EXPECT_EQ(serializeModel(again), serializeModel(fromBinary));
}

TEST(ModelLoading, ConvertWritesBothFormsOfTheSameModel) {
  testing::TemporaryDirectory directory;
  std::string json = directory.path("model.json"), binary = directory.path("model.fbs");
  ASSERT_EQ(
      testing::runDlc("convert " + sourcePath("examples/quora_siamese/model.fbs") + " -o " + json),
      0);
  ASSERT_EQ(testing::runDlc("convert " + json + " -o " + binary), 0);
  EXPECT_EQ(testing::readText(binary), exampleBinary());
}

TEST(ModelLoading, TheJsonFormIsStrictJsonWithEverySettingWritten) {
  testing::TemporaryDirectory directory;
  std::string json = directory.path("model.json");
  ASSERT_EQ(
      testing::runDlc("convert " + sourcePath("examples/quora_siamese/model.fbs") + " -o " + json),
      0);
  nlohmann::json parsed = nlohmann::json::parse(testing::readText(json));  // quoted keys
  EXPECT_EQ(parsed["format_version"], 1);
  EXPECT_EQ(parsed["layers"][0]["kind"], "Input");  // a default: written out too
  EXPECT_EQ(parsed["layers"][0]["input"]["dtype"], "Int32");
  EXPECT_EQ(parsed["training"]["optimizer"]["kind"], "Adam");
  EXPECT_EQ(parsed["training"]["epochs"], 3);
}

/// Runs dlc, expecting exit status 1 and one error line holding every one of `expected`.
void expectOneErrorLine(const std::string& arguments, const std::vector<std::string>& expected) {
  std::string errors;
  EXPECT_EQ(testing::runDlc(arguments, nullptr, &errors), 1) << arguments;
  EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 1) << errors;
  for (const std::string& part : expected)
    EXPECT_NE(errors.find(part), std::string::npos) << "expected '" << part << "' in: " << errors;
}

TEST(ModelLoading, EveryWriterPicksTheFormFromTheNameAndTheJsonFormHoldsNoWeights) {
  testing::TemporaryDirectory directory;
  std::string model = directory.path("small.json"), weights = directory.path("w.safetensors");
  std::string withWeights = directory.path("with_weights.fbs");
  testing::writeText(model, testing::smallSiameseModel(40, 8));
  ASSERT_EQ(testing::runDlc(fmt::format("weights export {} -o {}", model, weights)), 0);
  ASSERT_EQ(testing::runDlc(fmt::format("weights import {} {} -o {}", model, weights, withWeights)),
            0);

  const std::string noWeights = "the JSON form holds a model's graph and settings, not tensor data";
  std::string json = directory.path("out.json");
  expectOneErrorLine(fmt::format("convert {} -o {}", withWeights, json), {json, noWeights});
  expectOneErrorLine(fmt::format("weights import {} {} -o {}", model, weights, json),
                     {json, noWeights});
  expectOneErrorLine(
      fmt::format("train {} --data {} --out {}", model, directory.path("pairs.tsv"), json),
      {json, "name it .fbs"});
  EXPECT_FALSE(std::filesystem::exists(json));

  std::string text = directory.path("out.txt");
  for (const std::string& command :
       {fmt::format("convert {} -o {}", model, text),
        fmt::format("weights import {} {} -o {}", model, weights, text)})
    expectOneErrorLine(command, {text, "a model file is named .fbs (the binary form) or .json"});
  EXPECT_FALSE(std::filesystem::exists(text));

  // A JSON file with tensor data (as earlier versions wrote) says the same when read.
  std::string handWritten = directory.path("hand.json");
  std::string source = testing::smallSiameseModel(40, 8);
  source.replace(
      source.rfind('}'), 1,
      R"(, "weights": [{ "name": "dense/bias", "shape": [1], "data": [0, 0, 0, 0] }] })");
  testing::writeText(handWritten, source);
  expectOneErrorLine("summary " + handWritten, {handWritten + ": " + noWeights});
}

TEST(CompileCommand, RefusesAnUnknownPassListingTheKnownOnesAndATrainingStepWithoutAutodiff) {
  std::string model = sourcePath("examples/quora_siamese/model.json");
  expectOneErrorLine("compile " + model + " --emit=ir --disable-pass bogus",
                     {"there is no pass called 'bogus' (the passes: ", "autodiff", "dce"});
  expectOneErrorLine("compile " + model + " --emit=ir --training --disable-pass autodiff",
                     {"--disable-pass autodiff: the training step (--training)"});
}

TEST(CompileCommand, VerboseAndPrintIrAfterAllWorkWithOutputToo) {
  testing::TemporaryDirectory directory;
  std::string model = testing::sourcePath("tests/data/golden/siamese_sigmoid.model.json");
  std::string compiled = directory.path("m.dlc"), errors;
  ASSERT_EQ(
      testing::runDlc(fmt::format("compile {} -o {} -v --print-ir-after-all", model, compiled),
                      nullptr, &errors),
      0)
      << errors;
  EXPECT_NE(errors.find("pass infer-shapes: "), std::string::npos) << errors;
  EXPECT_NE(errors.find("// IR after dce"), std::string::npos) << errors;
  EXPECT_TRUE(std::filesystem::exists(compiled));
}

}  // namespace
}  // namespace dlc
