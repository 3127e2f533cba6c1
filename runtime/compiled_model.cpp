#include "runtime/compiled_model.h"

#include <algorithm>
#include <fstream>

#include "codegen/jit.h"
#include "frontend/model_io.h"
#include "ir/printer.h"
#include "runtime/session.h"
#include "runtime/trainer.h"
#include "runtime/weights.h"
#include "schema/checksum.h"
#include "schema/dlc_compiled_generated.h"
#include "support/checksum.h"
#include "support/error.h"
#include "support/file_io.h"

namespace dlc {

namespace {

/// What tells whether object code was made for `graph`: the CRC-32 of its IR text, never 0.
uint32_t graphFingerprint(const ir::Graph& graph) {
  Crc32 crc;
  crc.update(ir::printGraph(graph));
  return std::max<uint32_t>(crc.value(), 1);
}

}  // namespace

CompiledModel::~CompiledModel() = default;

std::unique_ptr<CompiledModel> CompiledModel::compile(const std::string& modelPath,
                                                      const Options& options) {
  return compile(loadModel(modelPath), modelPath, options);
}

std::unique_ptr<CompiledModel> CompiledModel::compile(schema::ModelT model,
                                                      const std::string& source,
                                                      const Options& options) {
  std::unique_ptr<CompiledModel> compiled(new CompiledModel());
  compiled->model_ = std::move(model);
  compiled->source_ = source;
  compiled->analysis_ = analyzeModel(compiled->model_, source);
  compiled->options_ = options;
  SessionOptions sessionOptions;
  sessionOptions.batchSize = options.batchSize;
  sessionOptions.training = options.training;
  sessionOptions.passes.disabled = options.disabledPasses;
  sessionOptions.passes.verbose = options.verbose;
  sessionOptions.passes.printAfterAll = options.printAfterAll;
  sessionOptions.passes.log = options.log;
  compiled->session_ =
      std::make_unique<Session>(compiled->model_, compiled->analysis_, sessionOptions);
  compiled->session_->setWeights(modelWeights(compiled->model_, compiled->analysis_, 0));
  return compiled;
}

CompiledGraphFile parseCompiledGraph(std::span<const std::byte> contents,
                                     const std::string& source) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(contents.data());
  if (contents.size() < 8 || !schema::CompiledGraphBufferHasIdentifier(bytes))
    fail("{}: not a compiled dlc graph (expected the identifier \"{}\" at byte 4)", source,
         schema::CompiledGraphIdentifier());
  flatbuffers::Verifier verifier(bytes, contents.size());
  if (!schema::VerifyCompiledGraphBuffer(verifier))
    fail("{}: the compiled graph is truncated or corrupt", source);
  schema::verifyChecksum(contents, schema::CompiledGraph::VT_CHECKSUM, source);
  const schema::CompiledGraph* file = schema::GetCompiledGraph(bytes);
  if (file->format_version() > kCompiledFormatVersion)
    fail("{}: compiled graph format version {} is newer than this dlc reads ({})", source,
         file->format_version(), kCompiledFormatVersion);
  if (!file->model() || !file->object_code() || !file->offsets() || !file->cpu())
    fail("{}: the compiled graph lacks its model, code or memory plan", source);
  // The verifier checks a vector's length to 4 bytes only; the offsets are read in place.
  if (reinterpret_cast<uintptr_t>(file->offsets()->data()) % alignof(int64_t) != 0)
    fail("{}: the compiled graph is truncated or corrupt (its memory plan is misaligned)", source);
  if (file->batch_size() <= 0 || file->batch_size() > (1 << 20))
    fail("{}: the compiled graph has an invalid batch size {}", source, file->batch_size());

  CompiledGraphFile result;
  result.model =
      parseModel(std::as_bytes(std::span(file->model()->data(), file->model()->size())), source);
  result.analysis = analyzeModel(result.model, source);
  result.batchSize = file->batch_size();
  result.training = file->training();
  if (file->disabled_passes())
    for (const auto* name : *file->disabled_passes()) result.disabledPasses.insert(name->str());
  result.graphFingerprint = file->graph_fingerprint();
  result.cpu = file->cpu()->str();
  result.objectCode.assign(reinterpret_cast<const char*>(file->object_code()->data()),
                           file->object_code()->size());
  result.memoryPlan.arenaBytes = file->arena_bytes();
  result.memoryPlan.offsets.assign(file->offsets()->begin(), file->offsets()->end());
  return result;
}

std::unique_ptr<CompiledModel> CompiledModel::load(const std::string& path) {
  CompiledGraphFile file = parseCompiledGraph(readFile(path), path);
  std::unique_ptr<CompiledModel> compiled(new CompiledModel());
  compiled->model_ = std::move(file.model);
  compiled->source_ = path;
  compiled->analysis_ = std::move(file.analysis);
  compiled->options_ = {file.batchSize, file.training, std::move(file.disabledPasses)};

  // Code made for another CPU may use instructions this one lacks, and code made by another
  // dlc may be for another graph of the same model: compile it again then.
  bool sameCpu = file.cpu == codegen::hostCpuDescription();
  compiled->recompiled_ = true;
  SessionOptions sessionOptions;
  sessionOptions.batchSize = compiled->options_.batchSize;
  sessionOptions.training = compiled->options_.training;
  sessionOptions.passes.disabled = compiled->options_.disabledPasses;
  if (sameCpu) {
    using Code = std::unique_ptr<codegen::CompiledGraph>;
    sessionOptions.loadCode = [&](const ir::Graph& graph) -> Code {
      if (file.graphFingerprint == 0 || file.graphFingerprint != graphFingerprint(graph))
        return nullptr;
      compiled->recompiled_ = false;
      try {
        return codegen::CompiledGraph::load(graph, std::move(file.memoryPlan), file.objectCode);
      } catch (const Error& error) {
        fail("{}: {}", path, error.what());
      }
    };
  }
  compiled->session_ =
      std::make_unique<Session>(compiled->model_, compiled->analysis_, sessionOptions);
  compiled->session_->setWeights(modelWeights(compiled->model_, compiled->analysis_, 0));
  return compiled;
}

bool CompiledModel::isCompiledGraph(const std::string& path) {
  char header[8] = {};
  std::ifstream(path, std::ios::binary).read(header, sizeof header);
  return schema::CompiledGraphBufferHasIdentifier(header);
}

void CompiledModel::save(const std::string& path) const {
  const codegen::CompiledGraph* code = session_->compiledGraph();
  schema::ModelT model = model_;
  model.weights = toSchemaTensors(session_->weights());
  // Optimizer slots serve only training: an inference graph leaves them behind.
  if (!options_.training && model.training) model.training->optimizer_state.clear();
  std::string modelBytes = serializeModel(model);

  flatbuffers::FlatBufferBuilder builder(modelBytes.size() + code->objectCode().size() + 4096);
  auto modelVector =
      builder.CreateVector(reinterpret_cast<const uint8_t*>(modelBytes.data()), modelBytes.size());
  auto objectVector = builder.CreateVector(
      reinterpret_cast<const uint8_t*>(code->objectCode().data()), code->objectCode().size());
  auto offsets = builder.CreateVector(code->memoryPlan().offsets);
  auto producer = builder.CreateString("dlc 0.1.0");
  auto cpu = builder.CreateString(codegen::hostCpuDescription());
  std::vector<std::string> disabled(options_.disabledPasses.begin(), options_.disabledPasses.end());
  auto disabledPasses = builder.CreateVectorOfStrings(disabled);
  schema::CompiledGraphBuilder file(builder);
  file.add_format_version(kCompiledFormatVersion);
  file.add_producer(producer);
  file.add_model(modelVector);
  file.add_batch_size(options_.batchSize);
  file.add_training(options_.training);
  file.add_cpu(cpu);
  file.add_object_code(objectVector);
  file.add_arena_bytes(code->memoryPlan().arenaBytes);
  file.add_offsets(offsets);
  file.add_disabled_passes(disabledPasses);
  file.add_graph_fingerprint(graphFingerprint(session_->graph()));
  // Stored although zero, so that sealing has its place to write.
  builder.ForceDefaults(true);
  file.add_checksum(0);
  builder.ForceDefaults(false);
  schema::FinishCompiledGraphBuffer(builder, file.Finish());
  std::span<std::byte> buffer(reinterpret_cast<std::byte*>(builder.GetBufferPointer()),
                              builder.GetSize());
  schema::sealChecksum(buffer, schema::CompiledGraph::VT_CHECKSUM);
  writeFileAtomically(path, buffer);
}

double CompiledModel::compileSeconds() const { return session_->compiledGraph()->compileSeconds(); }

const codegen::MemoryPlan& CompiledModel::memoryPlan() const {
  return session_->compiledGraph()->memoryPlan();
}

const ir::Graph& CompiledModel::graph() const { return session_->graph(); }

std::vector<std::pair<std::string, ir::Type>> CompiledModel::inputs() const {
  std::vector<std::pair<std::string, ir::Type>> result;
  for (ir::ValueId id : graph().valuesOfKind(ir::ValueKind::Input))
    result.emplace_back(graph().value(id).name, graph().type(id));
  return result;
}

std::vector<std::pair<std::string, ir::Type>> CompiledModel::outputs() const {
  std::vector<std::pair<std::string, ir::Type>> result;
  for (const ir::GraphOutput& output : graph().outputs())
    result.emplace_back(output.name, graph().type(output.value));
  return result;
}

TensorMap CompiledModel::run(const TensorMap& inputs) { return session_->run(inputs); }

void CompiledModel::setWeights(const TensorMap& weights) {
  checkWeights(weights, analysis_, source_);
  session_->setWeights(weights);
}

TensorMap CompiledModel::weights() const { return session_->weights(); }

std::vector<float> CompiledModel::predictPairs(
    const std::vector<std::pair<std::string, std::string>>& pairs) {
  if (options_.training) fail("predictPairs needs a model compiled for inference");
  std::vector<QuestionPair> questionPairs;
  for (const auto& [first, second] : pairs) questionPairs.push_back({first, second, 0});
  // Building the tokenizer's word index takes longer than a small batch: once is enough.
  if (!encoder_) encoder_ = std::make_unique<PairEncoder>(model_, source_);
  return predictWithSession(*session_, encoder_->encode(questionPairs), *encoder_);
}

}  // namespace dlc
