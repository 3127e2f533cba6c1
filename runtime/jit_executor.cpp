#include "runtime/jit_executor.h"

#include <cstdlib>
#include <cstring>

#include "support/error.h"

namespace dlc {

JitExecutor::JitExecutor(const ir::Graph& graph, const codegen::JitOptions& options)
    : JitExecutor(graph, codegen::CompiledGraph::compile(graph, options)) {}

JitExecutor::JitExecutor(const ir::Graph& graph, std::unique_ptr<codegen::CompiledGraph> compiled)
    : graph_(graph), compiled_(std::move(compiled)) {
  for (ir::ValueId id : compiled_->externalValues()) {
    storage_.emplace_back(graph.type(id).dtype, graph.type(id).shape);
    externals_.push_back(storage_.back().bytes().data());
  }
  idInputs_ = tokenIdInputs(graph);
  size_t bytes = std::max<int64_t>(compiled_->memoryPlan().arenaBytes, 64);
  arena_ = {static_cast<std::byte*>(std::aligned_alloc(64, bytes)), &std::free};
  if (!arena_) throw std::bad_alloc();
}

void JitExecutor::setTensor(const std::string& name, const Tensor& tensor) {
  const auto& externals = compiled_->externalValues();
  for (size_t index = 0; index < externals.size(); ++index) {
    const ir::Value& value = graph_.value(externals[index]);
    if (value.name != name) continue;
    if (tensor.shape() != value.type.shape || tensor.dtype() != value.type.dtype)
      fail("'{}' must be {}, got {}{}", name, ir::formatType(value.type), dtypeName(tensor.dtype()),
           formatShape(tensor.shape()));
    std::memcpy(storage_[index].bytes().data(), tensor.bytes().data(), tensor.byteSize());
    if (value.kind == ir::ValueKind::Weight) weightsBound_ = false;
    return;
  }
  fail("the graph has no weight, state or input named '{}'", name);
}

Tensor JitExecutor::getTensor(const std::string& name) const {
  const auto& externals = compiled_->externalValues();
  for (size_t index = 0; index < externals.size(); ++index)
    if (graph_.value(externals[index]).name == name) return storage_[index];
  fail("the graph has no weight, state or input named '{}'", name);
}

namespace {

/// The layer whose table a lookup reads: the weight it comes from ("embedding/embeddings" is
/// layer 'embedding'), through ops that transform the table (a folded projection multiplies
/// it), since fused or folded ops carry the origin of the layer they were merged into.
std::string tableLayer(const ir::Graph& graph, const std::vector<int32_t>& producers,
                       ir::ValueId table, const std::string& fallback) {
  while (graph.value(table).kind == ir::ValueKind::Result && producers[table] >= 0 &&
         !graph.ops()[producers[table]].operands.empty())
    table = graph.ops()[producers[table]].operands[0];
  const ir::Value& value = graph.value(table);
  if (value.kind != ir::ValueKind::Weight) return fallback;
  return value.name.substr(0, value.name.find('/'));
}

/// The graph inputs whose ids `ids` holds: itself, or the inputs it was moved from without a
/// change of value (stacked calls of a shared layer concatenate them, a time-major lookup
/// transposes them, the folded lookups reshape and slice them).
std::vector<ir::ValueId> idSources(const ir::Graph& graph, const std::vector<int32_t>& producers,
                                   ir::ValueId ids) {
  if (graph.value(ids).kind == ir::ValueKind::Input) return {ids};
  if (graph.value(ids).kind != ir::ValueKind::Result || producers[ids] < 0) return {};
  const ir::Op& producer = graph.ops()[producers[ids]];
  bool movesIds = producer.kind == ir::OpKind::Concat || producer.kind == ir::OpKind::Transpose ||
                  producer.kind == ir::OpKind::Reshape || producer.kind == ir::OpKind::Slice;
  if (!movesIds) return {};
  std::vector<ir::ValueId> sources;
  for (ir::ValueId part : producer.operands)
    for (ir::ValueId source : idSources(graph, producers, part)) sources.push_back(source);
  return sources;
}

}  // namespace

std::vector<TokenIdInput> tokenIdInputs(const ir::Graph& graph) {
  std::vector<int32_t> producers = ir::producerIndex(graph);
  std::vector<TokenIdInput> idInputs;
  auto add = [&](TokenIdInput input) {
    for (const TokenIdInput& known : idInputs)
      if (known.name == input.name && known.rows == input.rows) return;
    idInputs.push_back(std::move(input));
  };
  // Lookups read ids as their operand 1 and rows of operand 0; scatters (their gradients) read
  // ids as their operand 0 and write rows of their result, and are named after the lookups.
  for (bool lookups : {true, false}) {
    for (const ir::Op& op : graph.ops()) {
      bool lookup = op.kind == ir::OpKind::Gather || op.kind == ir::OpKind::FusedGatherMatMul;
      bool scatter =
          op.kind == ir::OpKind::ScatterAdd || op.kind == ir::OpKind::FusedMatMulScatterAdd;
      if (lookups ? !lookup : !scatter) continue;
      int64_t rows = lookup ? graph.type(op.operands[0]).shape[0] : graph.type(op.result).shape[0];
      std::string layer =
          lookup ? tableLayer(graph, producers, op.operands[0], op.origin) : op.origin;
      for (ir::ValueId ids : idSources(graph, producers, op.operands[lookup ? 1 : 0]))
        add({graph.value(ids).name, layer, rows});
    }
  }
  return idInputs;
}

void checkTokenIds(const std::vector<TokenIdInput>& idInputs, const TensorMap& inputs) {
  for (const TokenIdInput& input : idInputs) {
    auto found = inputs.find(input.name);
    if (found == inputs.end()) fail("the input '{}' is missing", input.name);
    const Tensor& tensor = found->second;
    if (tensor.dtype() != DType::Int32)
      fail("input '{}' must hold i32 token ids, got {}", input.name, dtypeName(tensor.dtype()));
    auto values = tensor.data<int32_t>();
    for (size_t index = 0; index < values.size(); ++index) {
      if (values[index] >= 0 && values[index] < input.rows) continue;
      // The flat index as a position in the input: [sample, step].
      Shape position(tensor.shape().size());
      for (size_t axis = position.size(), rest = index; axis-- > 0;) {
        position[axis] = static_cast<int64_t>(rest) % tensor.shape()[axis];
        rest /= static_cast<size_t>(tensor.shape()[axis]);
      }
      fail("input '{}' at {}: token id {} is out of range for layer '{}' (ids 0 to {})", input.name,
           formatShape(position), values[index], input.layer, input.rows - 1);
    }
  }
}

TensorMap JitExecutor::run(const TensorMap& inputs) {
  for (ir::ValueId id : graph_.valuesOfKind(ir::ValueKind::Input)) {
    auto found = inputs.find(graph_.value(id).name);
    if (found == inputs.end()) fail("the input '{}' is missing", graph_.value(id).name);
    setTensor(found->first, found->second);
  }
  checkTokenIds(idInputs_, inputs);

  const codegen::MemoryPlan& plan = compiled_->memoryPlan();
  if (poisonArena_) {
    // All bytes 0xFF: every float in the arena is a NaN until a kernel writes it.
    std::memset(arena_.get() + plan.persistentBytes, 0xFF, plan.arenaBytes - plan.persistentBytes);
  }
  if (!weightsBound_) {
    compiled_->bindWeights(arena_.get(), externals_.data());
    weightsBound_ = true;
  }
  compiled_->run(arena_.get(), externals_.data());

  TensorMap outputs;
  const auto& offsets = compiled_->memoryPlan().offsets;
  for (const ir::GraphOutput& output : graph_.outputs()) {
    const ir::Type& type = graph_.type(output.value);
    if (offsets[output.value] < 0) {
      outputs[output.name] = getTensor(graph_.value(output.value).name);
      continue;
    }
    Tensor tensor(type.dtype, type.shape);
    std::memcpy(tensor.bytes().data(), arena_.get() + offsets[output.value], tensor.byteSize());
    outputs[output.name] = std::move(tensor);
  }
  return outputs;
}

}  // namespace dlc
