// Files dlc writes carry checksums that loading checks: a model, a compiled graph and a
// safetensors file with one byte changed are refused naming the file; files from before
// checksums (and from other safetensors writers) still load.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "frontend/model_io.h"
#include "runtime/compiled_model.h"
#include "runtime/safetensors.h"
#include "runtime/weights.h"
#include "schema/checksum.h"
#include "schema/dlc_compiled_generated.h"
#include "support/error.h"
#include "support/file_io.h"
#include "tests/test_support.h"

namespace dlc {
namespace {

using testing::TemporaryDirectory;

/// The golden Siamese model (vocabulary 30, 5 steps), with weights from seed 3.
schema::ModelT smallModelWithWeights() {
  std::string json =
      testing::readText(testing::sourcePath("tests/data/golden/siamese_sigmoid.model.json"));
  testing::ParsedModel parsed = testing::parseModelJson(json);
  parsed.model.weights = toSchemaTensors(initializeWeights(parsed.analysis, 3));
  return std::move(parsed.model);
}

/// Flips one bit of the file at `position`.
void damage(const std::string& path, size_t position) {
  std::vector<std::byte> contents = readFile(path);
  ASSERT_LT(position, contents.size());
  contents[position] ^= std::byte{0x10};
  writeFileAtomically(path, contents);
}

/// Where the first byte of the first weight's data sits in a binary model.
size_t firstWeightData(const std::vector<std::byte>& contents) {
  const auto* start = reinterpret_cast<const uint8_t*>(contents.data());
  return static_cast<size_t>(schema::GetModel(start)->weights()->Get(0)->data()->data() - start);
}

void expectCorruptionError(const std::function<void()>& load, const std::string& path) {
  try {
    load();
    FAIL() << "a damaged file loaded";
  } catch (const Error& error) {
    std::string message = error.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("corrupt"), std::string::npos) << message;
  }
}

TEST(ModelChecksum, ADamagedWeightIsRefusedNamingTheFile) {
  TemporaryDirectory directory;
  std::string path = directory.path("model.fbs");
  saveModel(smallModelWithWeights(), path);
  ASSERT_NO_THROW(loadModel(path));

  damage(path, firstWeightData(readFile(path)) + 5);
  expectCorruptionError([&] { loadModel(path); }, path);
}

TEST(ModelChecksum, EverySavedModelStoresOneAndTheJsonFormNone) {
  schema::ModelT model = smallModelWithWeights();
  std::string binary = serializeModel(model);
  auto bytes = std::as_bytes(std::span(binary.data(), binary.size()));
  EXPECT_TRUE(schema::rootFieldPosition(bytes, schema::Model::VT_CHECKSUM).has_value());
  model.weights.clear();
  EXPECT_EQ(modelToJson(model, "model.json").find("checksum"), std::string::npos);
}

TEST(ModelChecksum, FilesWrittenBeforeChecksumsStillLoad) {
  // What dlc wrote before the field existed: the plain object API, nothing stored for it.
  schema::ModelT model = smallModelWithWeights();
  flatbuffers::FlatBufferBuilder builder;
  schema::FinishModelBuffer(builder, schema::Model::Pack(builder, &model));
  auto bytes = std::as_bytes(std::span(builder.GetBufferPointer(), builder.GetSize()));
  ASSERT_FALSE(schema::rootFieldPosition(bytes, schema::Model::VT_CHECKSUM).has_value());
  EXPECT_EQ(parseModel(bytes, "old.fbs").weights.size(), model.weights.size());
}

TEST(CompiledGraphChecksum, DamagedObjectCodeIsRefusedNamingTheFile) {
  TemporaryDirectory directory;
  std::string modelPath = directory.path("model.fbs");
  std::string path = directory.path("model.dlc");
  saveModel(smallModelWithWeights(), modelPath);
  CompiledModel::compile(modelPath, {4, false, {}})->save(path);
  ASSERT_NO_THROW(parseCompiledGraph(readFile(path), path));

  std::vector<std::byte> contents = readFile(path);
  const auto* start = reinterpret_cast<const uint8_t*>(contents.data());
  const auto* code = schema::GetCompiledGraph(start)->object_code();
  damage(path, static_cast<size_t>(code->data() - start) + code->size() / 2);
  expectCorruptionError([&] { CompiledModel::load(path); }, path);
}

TEST(SafetensorsChecksum, ADamagedTensorIsRefusedNamingTheFile) {
  TemporaryDirectory directory;
  std::string path = directory.path("weights.safetensors");
  TensorMap tensors;
  tensors["a"] = Tensor::fromFloats({2, 2}, {1, 2, 3, 4});
  tensors["b"] = Tensor::fromInts({3}, {7, 8, 9});
  writeSafetensors(path, tensors);
  EXPECT_NE(testing::readText(path).find("\"dlc.crc32\""), std::string::npos);
  EXPECT_EQ(readSafetensors(path).at("b").data<int32_t>()[2], 9);

  std::vector<std::byte> contents = readFile(path);
  damage(path, contents.size() - 2);  // inside the last tensor's data
  expectCorruptionError([&] { readSafetensors(path); }, path);
}

TEST(SafetensorsChecksum, FilesWithoutOneLoad) {
  // As other writers make them: no __metadata__ at all.
  std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string file(8, '\0');
  uint64_t size = header.size();
  std::memcpy(file.data(), &size, 8);
  file += header;
  float values[2] = {1.5f, -2.0f};
  file.append(reinterpret_cast<const char*>(values), sizeof values);
  TensorMap tensors = parseSafetensors(std::as_bytes(std::span(file.data(), file.size())), "x");
  EXPECT_EQ(tensors.at("x").data<float>()[1], -2.0f);
}

TEST(AtomicWrites, ReplaceTheFileWholeAndLeaveNoTemporaryBehind) {
  TemporaryDirectory directory;
  std::string path = directory.path("file");
  writeFileAtomically(path, std::string("first"));
  writeFileAtomically(path, std::string("second"));
  EXPECT_EQ(testing::readText(path), "second");
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(directory.path("")))
    ++files;
  EXPECT_EQ(files, 1);
}

}  // namespace
}  // namespace dlc
