// Compiled graph files: saved and loaded without compiling again, compiled again for another CPU,
// refused cleanly when truncated, foreign or from a newer dlc; and the C API over them.
#include "runtime/compiled_model.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "codegen/jit.h"
#include "runtime/dlc_c_api.h"
#include "schema/checksum.h"
#include "schema/dlc_compiled_generated.h"
#include "support/error.h"
#include "support/file_io.h"
#include "tests/test_support.h"

namespace dlc {
namespace {

using testing::sourcePath;

TensorMap someIds(int64_t batch, int64_t length) {
  std::vector<int32_t> first, second;
  for (int64_t i = 0; i < batch * length; ++i) {
    first.push_back(static_cast<int32_t>((i * 7919) % 50002));
    second.push_back(static_cast<int32_t>((i * 104729 + 3) % 50002));
  }
  TensorMap inputs;
  inputs["input_question1"] = Tensor::fromInts({batch, length}, first);
  inputs["input_question2"] = Tensor::fromInts({batch, length}, second);
  return inputs;
}

std::string bytesToString(const std::vector<std::byte>& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

class CompiledModelFile : public ::testing::Test {
 protected:
  void SetUp() override {
    fresh_ = CompiledModel::compile(sourcePath("examples/quora_siamese/model.fbs"), {2, false, {}});
    path_ = directory_.path("model.dlc");
    fresh_->save(path_);
    expected_ = fresh_->run(someIds(2, 20)).at("dense");
  }

  void expectSameOutputs(CompiledModel& loaded) {
    Tensor actual = loaded.run(someIds(2, 20)).at("dense");
    auto a = actual.data<float>();
    auto b = expected_.data<float>();
    ASSERT_EQ(a.size(), 2u);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
  }

  /// Loads `contents`, a compiled graph edited by a test, sealed again and saved as `name`.
  std::unique_ptr<CompiledModel> loadEdited(std::string contents, const std::string& name) {
    schema::sealChecksum(std::as_writable_bytes(std::span(contents.data(), contents.size())),
                         schema::CompiledGraph::VT_CHECKSUM);
    std::string path = directory_.path(name);
    writeFileAtomically(path, contents);
    return CompiledModel::load(path);
  }

  testing::TemporaryDirectory directory_;
  std::unique_ptr<CompiledModel> fresh_;
  std::string path_;
  Tensor expected_;
};

TEST_F(CompiledModelFile, LoadsWithoutCompilingAgainOnTheSameCpu) {
  auto loaded = CompiledModel::load(path_);
  EXPECT_FALSE(loaded->recompiled());
  EXPECT_EQ(loaded->batchSize(), 2);
  EXPECT_FALSE(loaded->training());
  expectSameOutputs(*loaded);
}

// Code made by another dlc may be for another graph of the same model (other passes, another
// lowering): the fingerprint of the graph it was made for tells, and a mismatch, or a file
// without one, compiles again.
TEST_F(CompiledModelFile, CodeForAnotherGraphIsCompiledAgain) {
  std::string contents = bytesToString(readFile(path_));
  uint32_t fingerprint = schema::GetCompiledGraph(contents.data())->graph_fingerprint();
  ASSERT_NE(fingerprint, 0u);
  std::string stored(reinterpret_cast<const char*>(&fingerprint), 4);  // little-endian
  size_t at = contents.find(stored);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(contents.find(stored, at + 1), std::string::npos) << "the bytes are not unique";
  contents[at] ^= 1;

  auto loaded = loadEdited(contents, "other_graph.dlc");
  EXPECT_TRUE(loaded->recompiled());
  expectSameOutputs(*loaded);
}

TEST_F(CompiledModelFile, CompilesAgainForAnotherCpu) {
  std::string contents = bytesToString(readFile(path_));
  std::string cpu = codegen::hostCpuDescription();
  size_t at = contents.find(cpu);
  ASSERT_NE(at, std::string::npos);
  contents[at] = contents[at] == 'x' ? 'y' : 'x';  // as if written on another machine

  auto loaded = loadEdited(contents, "other_cpu.dlc");
  EXPECT_TRUE(loaded->recompiled());
  expectSameOutputs(*loaded);
}

TEST_F(CompiledModelFile, RefusesTruncatedForeignAndNewerFiles) {
  std::string contents = bytesToString(readFile(path_));
  for (size_t length :
       {size_t{0}, size_t{7}, size_t{64}, contents.size() / 2, contents.size() - 1}) {
    std::string cut = directory_.path("cut.dlc");
    writeFileAtomically(cut, contents.substr(0, length));
    EXPECT_THROW(CompiledModel::load(cut), Error) << length;
  }

  // A model file is not a compiled graph.
  try {
    CompiledModel::load(sourcePath("examples/quora_siamese/model.fbs"));
    FAIL() << "a model file loaded as a compiled graph";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("not a compiled dlc graph"), std::string::npos);
  }

  flatbuffers::FlatBufferBuilder builder;
  auto producer = builder.CreateString("dlc 99");
  schema::CompiledGraphBuilder file(builder);
  file.add_format_version(kCompiledFormatVersion + 1);
  file.add_producer(producer);
  schema::FinishCompiledGraphBuffer(builder, file.Finish());
  std::string newer = directory_.path("newer.dlc");
  writeFileAtomically(
      newer,
      std::span(reinterpret_cast<const std::byte*>(builder.GetBufferPointer()), builder.GetSize()));
  try {
    CompiledModel::load(newer);
    FAIL() << "a file from a newer dlc loaded";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("newer"), std::string::npos) << error.what();
  }
}

TEST_F(CompiledModelFile, RunsThroughTheCApi) {
  dlc_model* model = dlc_model_load(path_.c_str());
  ASSERT_NE(model, nullptr) << dlc_last_error();
  EXPECT_EQ(dlc_model_batch_size(model), 2);
  TensorMap inputs = someIds(2, 20);
  for (const char* name : {"input_question1", "input_question2"}) {
    auto ids = inputs.at(name).data<int32_t>();
    ASSERT_EQ(dlc_model_set_input_i32(model, name, ids.data(), ids.size()), 0);
  }
  ASSERT_EQ(dlc_model_run(model), 0) << dlc_last_error();
  float probabilities[2];
  ASSERT_EQ(dlc_model_get_output_f32(model, "dense", probabilities, 2), 0);
  EXPECT_EQ(probabilities[0], expected_.data<float>()[0]);
  EXPECT_EQ(probabilities[1], expected_.data<float>()[1]);

  // Wrong sizes and names fail with a message instead of crashing.
  int32_t one = 1;
  EXPECT_EQ(dlc_model_set_input_i32(model, "input_question1", &one, 1), -1);
  EXPECT_NE(std::string(dlc_last_error()).find("elements"), std::string::npos);
  EXPECT_EQ(dlc_model_get_output_f32(model, "nope", probabilities, 2), -1);
  dlc_model_free(model);

  EXPECT_EQ(dlc_model_load(directory_.path("missing.dlc").c_str()), nullptr);
  EXPECT_NE(std::string(dlc_last_error()).find("missing.dlc"), std::string::npos);
}

}  // namespace
}  // namespace dlc
