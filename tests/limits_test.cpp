// Sizes declared in a file are checked against the memory limit before anything is allocated,
// and token ids from a `dlc run` inputs file against the embedding they index.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "frontend/layers.h"
#include "runtime/safetensors.h"
#include "runtime/session.h"
#include "support/error.h"
#include "support/memory_limit.h"
#include "tests/test_support.h"

namespace dlc {
namespace {

using testing::TemporaryDirectory;

std::string embeddingModel(int64_t rows, int64_t width) {
  return fmt::format(R"({{ "inputs": ["ids"], "outputs": ["embedding"], "layers": [
      {{ "name": "ids", "kind": "Input", "input": {{ "shape": [4] }} }},
      {{ "name": "embedding", "kind": "Embedding", "inputs": ["ids"],
         "embedding": {{ "input_dim": {}, "output_dim": {} }} }} ] }})",
                     rows, width);
}

/// The message of the Error that `body` throws, or "" if it throws none.
template <typename Body>
std::string errorOf(Body&& body) {
  try {
    body();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

class MemoryLimit : public ::testing::Test {
 protected:
  void TearDown() override { setMemoryLimit(0); }
};

TEST_F(MemoryLimit, RefusesAHugeEmbeddingWithTheFigure) {
  setMemoryLimit(int64_t{1} << 30);
  std::string message =
      errorOf([] { testing::parseModelJson(embeddingModel(1'000'000'000'000, 128), "big.json"); });
  EXPECT_NE(message.find("big.json: layer 'embedding' (Embedding)"), std::string::npos) << message;
  EXPECT_NE(message.find("465.7 TiB"), std::string::npos) << message;
  EXPECT_NE(message.find("memory limit of 1.0 GiB"), std::string::npos) << message;
}

TEST_F(MemoryLimit, RefusesSizesWhoseProductOverflows) {
  std::string message =
      errorOf([] { testing::parseModelJson(embeddingModel(int64_t{1} << 40, int64_t{1} << 40)); });
  EXPECT_NE(message.find("more than 8 EiB"), std::string::npos) << message;
}

/// A model of one Input of `shape` read by `layer` (a layer's JSON without its inputs).
std::string inputThen(const std::string& shape, const std::string& layer) {
  return fmt::format(R"({{ "inputs": ["x"], "outputs": ["y"], "layers": [
      {{ "name": "x", "kind": "Input", "input": {{ "shape": {}, "dtype": "Float32" }} }},
      {{ "name": "y", "inputs": ["x"], {} }} ] }})",
                     shape, layer);
}

TEST_F(MemoryLimit, ShapesAndParameterCountsThatOverflowNameTheLayer) {
  struct Case {
    std::string model, expected;
  };
  const std::vector<Case> cases = {
      {inputThen("[2147483647]", R"("kind": "Dense", "dense": { "units": 2147483647 })"),
       "layer 'y' (Dense): the weight 'y/kernel' [2147483647, 2147483647] would need more than "
       "8 EiB"},
      {inputThen("[9223372036854775807]", R"("kind": "Dense", "dense": { "units": 2 })"),
       "layer 'x' (InputLayer): one sample of its output (None, 9223372036854775807) would need "
       "more than 8 EiB"},
      {inputThen("[4294967296, 4294967296]", R"("kind": "Flatten")"),
       "layer 'x' (InputLayer): one sample of its output (None, 4294967296, 4294967296)"},
  };
  for (const Case& c : cases) {
    std::string message = errorOf([&] { testing::parseModelJson(c.model, "big.json"); });
    EXPECT_TRUE(message.starts_with("big.json: ")) << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
  }
  // Every other product of sizes is checked too.
  EXPECT_NE(errorOf([] { numElements({int64_t{1} << 32, int64_t{1} << 32}); })
                .find("the shape [4294967296, 4294967296] has more elements than 64 bits"),
            std::string::npos);
  EXPECT_EQ(numElements({3, -1}), -3);  // a batch axis of -1 (Keras's None) stays as it was
}

TEST_F(MemoryLimit, RefusesABatchWhoseGraphWouldNotFit) {
  testing::ParsedModel parsed = testing::parseModelJson(embeddingModel(1000, 64));
  setMemoryLimit(int64_t{4} << 20);
  SessionOptions options;
  options.batchSize = 1;
  options.executor = ExecutorKind::Reference;
  EXPECT_NO_THROW(Session(parsed.model, parsed.analysis, options));
  options.batchSize = 8192;  // 8192 x 4 ids x 64 floats: 8 MiB of output alone
  std::string message = errorOf([&] { Session(parsed.model, parsed.analysis, options); });
  EXPECT_NE(message.find("the inference graph for batch 8192"), std::string::npos) << message;
}

/// A stack of `count` Dense layers of `units` units on an input of `units` floats.
std::string denseStack(int count, int units) {
  std::string layers = fmt::format(
      R"({{ "name": "x", "kind": "Input", "input": {{ "shape": [{}], "dtype": "Float32" }} }})",
      units);
  std::string previous = "x";
  for (int index = 0; index < count; ++index) {
    std::string name = fmt::format("dense{}", index);
    layers += fmt::format(R"(, {{ "name": "{}", "kind": "Dense", "inputs": ["{}"],
        "dense": {{ "units": {}, "activation": "Relu" }} }})",
                          name, previous, units);
    previous = name;
  }
  return fmt::format(R"({{ "inputs": ["x"], "outputs": ["{}"], "layers": [{}] }})", previous,
                     layers);
}

TEST_F(MemoryLimit, TheJitIsJudgedByItsMemoryPlan) {
  // Batch 4096 x 64 floats is 1 MiB a tensor: 16 layers' results sum to over 32 MiB, while the
  // JIT's arena holds a few of them at a time.
  testing::ParsedModel parsed = testing::parseModelJson(denseStack(16, 64));
  auto refusal = [&](ExecutorKind executor, int64_t limit) {
    setMemoryLimit(limit);
    SessionOptions options;
    options.batchSize = 4096;
    options.executor = executor;
    return errorOf([&] { Session(parsed.model, parsed.analysis, options); });
  };
  const std::string refused = "the inference graph for batch 4096";
  EXPECT_NE(refusal(ExecutorKind::Reference, int64_t{12} << 20).find(refused), std::string::npos);
  EXPECT_EQ(refusal(ExecutorKind::Jit, int64_t{12} << 20), "");
  // Two tensors and the weights: not enough for the arena.
  EXPECT_NE(refusal(ExecutorKind::Jit, int64_t{2} << 20).find(refused), std::string::npos);
}

TEST_F(MemoryLimit, TheCommandLineAndTheEnvironmentSetIt) {
  TemporaryDirectory directory;
  std::string model = directory.path("model.json");
  testing::writeText(model, embeddingModel(1'000'000, 256));  // 977 MiB of weights
  std::string errors;
  EXPECT_EQ(testing::runDlc(fmt::format("--memory-limit 512M summary {}", model), nullptr, &errors),
            1);
  EXPECT_NE(errors.find("976.6 MiB, more than the memory limit of 512.0 MiB"), std::string::npos)
      << errors;
  EXPECT_EQ(std::system(fmt::format("DLC_MEMORY_LIMIT=512M {} summary {} >/dev/null 2>&1",
                                    DLC_BINARY, model)
                            .c_str()),
            1 << 8);
  EXPECT_EQ(testing::runDlc(fmt::format("--memory-limit 2G summary {}", model)), 0);
  EXPECT_NE(testing::runDlc(fmt::format("--memory-limit lots summary {}", model)), 0);
}

TEST(ByteSizes, ParseWithAndWithoutSuffixes) {
  EXPECT_EQ(parseByteSize("1048576"), 1048576);
  EXPECT_EQ(parseByteSize("8G"), int64_t{8} << 30);
  EXPECT_EQ(parseByteSize("512m"), int64_t{512} << 20);
  EXPECT_EQ(parseByteSize("2T"), int64_t{2} << 40);
  EXPECT_FALSE(parseByteSize(""));
  EXPECT_FALSE(parseByteSize("G"));
  EXPECT_FALSE(parseByteSize("12GB"));
  EXPECT_FALSE(parseByteSize("-5"));
  EXPECT_FALSE(parseByteSize("99999999999T"));
}

TEST(TokenIds, OutOfRangeIdsInRunInputsAreReportedWithTheirFileAndPosition) {
  TemporaryDirectory directory;
  std::string model = directory.path("model.json");
  testing::writeText(model, embeddingModel(40, 8));
  std::string inputs = directory.path("ids.safetensors");
  TensorMap tensors;
  tensors["ids"] = Tensor::fromInts({2, 4}, {0, 1, 2, 3, 4, 5, 40, 7});
  writeSafetensors(inputs, tensors);

  std::string errors;
  EXPECT_EQ(testing::runDlc(fmt::format("run {} --inputs {} -o {}", model, inputs,
                                        directory.path("out.safetensors")),
                            nullptr, &errors),
            1);
  EXPECT_NE(errors.find(inputs + ": input 'ids' at [1, 2]: token id 40 is out of range for "
                                 "layer 'embedding' (ids 0 to 39)"),
            std::string::npos)
      << errors;
}

// The lookups of the Siamese model end up inside fused and folded ops that carry the LSTM's
// origin ('lstm', 'lstm/folded-embedding'): the message must still name the embedding.
TEST(TokenIds, OutOfRangeIdsNameTheEmbeddingBehindFusedLookups) {
  TemporaryDirectory directory;
  std::string model = directory.path("model.json");
  testing::writeText(model, testing::smallSiameseModel(40, 8));
  std::string inputs = directory.path("ids.safetensors");
  TensorMap tensors;
  tensors["q1"] = Tensor::fromInts({1, 8}, {1, 2, 3, 4, 5, 6, 7, 8});
  tensors["q2"] = Tensor::fromInts({1, 8}, {1, 2, 3, 4, 5, 6, 7, 40});
  writeSafetensors(inputs, tensors);

  for (const char* labels : {"", " --labels dense"}) {
    std::string errors;
    if (*labels) {
      TensorMap withLabels = tensors;
      withLabels["dense"] = Tensor::fromFloats({1, 1}, {1});
      writeSafetensors(inputs, withLabels);
    }
    EXPECT_EQ(testing::runDlc(fmt::format("run {} --inputs {} -o {}{}", model, inputs,
                                          directory.path("out.safetensors"), labels),
                              nullptr, &errors),
              1);
    EXPECT_NE(errors.find("input 'q2' at [0, 7]: token id 40 is out of range for layer "
                          "'embedding' (ids 0 to 39)"),
              std::string::npos)
        << labels << ": " << errors;
  }
}

}  // namespace
}  // namespace dlc
