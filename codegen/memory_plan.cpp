#include "codegen/memory_plan.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "support/error.h"

namespace dlc::codegen {

namespace {

constexpr int64_t kAlignment = 64;

int64_t bufferBytes(const ir::Type& type) {
  int64_t bytes = std::max<int64_t>(type.numElements(), 1) * 4;
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

struct Allocation {
  int64_t offset, bytes;
  int32_t last;
  ir::ValueId buffer;  // the value that owns the bytes (views share their operand's)
};

/// Where in its operand's bytes the result of a reshape or a slice lies, if it is one
/// contiguous, aligned block there: a reshape at 0; a slice whose axes before its own all have
/// size 1 (a step of a time-major sequence) at its start. None for other ops.
std::optional<int64_t> viewOffset(const ir::Graph& graph, const ir::Op& op) {
  if (op.kind == ir::OpKind::Reshape) return 0;
  if (op.kind != ir::OpKind::Slice) return std::nullopt;
  const Shape& shape = graph.type(op.operands[0]).shape;
  int64_t axis = op.attributes.getInt("axis");
  if (axis < 0) axis += static_cast<int64_t>(shape.size());
  for (int64_t outer = 0; outer < axis; ++outer)
    if (shape[outer] != 1) return std::nullopt;
  int64_t inner = 1;
  for (size_t rest = axis + 1; rest < shape.size(); ++rest) inner *= shape[rest];
  int64_t bytes = op.attributes.getInt("start") * inner * 4;
  if (bytes % kAlignment != 0) return std::nullopt;
  return bytes;
}

/// Where a view of the op's operand would lie, when the operand is a result of the arena's
/// per-run part (inputs and weights live outside it, weight-only results are planned apart).
std::optional<int64_t> viewOffsetInArena(const ir::Graph& graph, const ir::Op& op,
                                         const Lifetimes& lifetimes,
                                         const std::vector<bool>& weightOnly, size_t index) {
  std::optional<int64_t> offset = viewOffset(graph, op);
  if (!offset || weightOnly[index] || lifetimes.first[op.operands[0]] < 0) return std::nullopt;
  return offset;
}

}  // namespace

bool isView(const ir::Graph& graph, const ir::Op& op, const MemoryPlan& plan) {
  if (op.result == ir::kNoValue || plan.offsets[op.result] < 0) return false;
  std::optional<int64_t> offset = viewOffset(graph, op);
  return offset && plan.offsets[op.operands[0]] >= 0 &&
         plan.offsets[op.result] == plan.offsets[op.operands[0]] + *offset;
}

Lifetimes computeLifetimes(const ir::Graph& graph) {
  Lifetimes lifetimes{std::vector<int32_t>(graph.valueCount(), -1),
                      std::vector<int32_t>(graph.valueCount(), -1)};
  const auto& ops = graph.ops();
  for (int32_t index = 0; index < static_cast<int32_t>(ops.size()); ++index) {
    for (ir::ValueId operand : ops[index].operands) lifetimes.last[operand] = index;
    if (ops[index].result != ir::kNoValue) {
      lifetimes.first[ops[index].result] = index;
      lifetimes.last[ops[index].result] = std::max(lifetimes.last[ops[index].result], index);
    }
  }
  for (const ir::GraphOutput& output : graph.outputs())
    lifetimes.last[output.value] = std::numeric_limits<int32_t>::max();
  std::vector<bool> weightOnly = ir::weightOnlyOps(graph);
  for (size_t index = 0; index < ops.size(); ++index) {
    if (!weightOnly[index]) continue;
    lifetimes.first[ops[index].result] = 0;
    lifetimes.last[ops[index].result] = std::numeric_limits<int32_t>::max();
  }
  return lifetimes;
}

int64_t persistentBytes(const ir::Graph& graph, const MemoryPlan& plan) {
  std::vector<bool> weightOnly = ir::weightOnlyOps(graph);
  int64_t end = 0;
  for (size_t index = 0; index < graph.ops().size(); ++index) {
    ir::ValueId result = graph.ops()[index].result;
    if (weightOnly[index])
      end = std::max(end, plan.offsets[result] + bufferBytes(graph.type(result)));
  }
  return end;
}

MemoryPlan planMemory(const ir::Graph& graph, bool reuse) {
  MemoryPlan plan;
  plan.reuse = reuse;
  plan.offsets.assign(graph.valueCount(), -1);
  Lifetimes lifetimes = computeLifetimes(graph);

  std::vector<Allocation> live;  // sorted by offset
  const auto& ops = graph.ops();
  std::vector<ir::ValueId> bufferOf(graph.valueCount());
  for (ir::ValueId id = 0; id < graph.valueCount(); ++id) bufferOf[id] = id;

  // Results of ops on weights alone first, one after the other, never freed.
  std::vector<bool> weightOnly = ir::weightOnlyOps(graph);
  for (size_t index = 0; index < ops.size(); ++index) {
    if (!weightOnly[index]) continue;
    ir::ValueId result = ops[index].result;
    plan.offsets[result] = plan.persistentBytes;
    live.push_back({plan.persistentBytes, bufferBytes(graph.type(result)),
                    std::numeric_limits<int32_t>::max(), result});
    plan.persistentBytes += bufferBytes(graph.type(result));
  }
  plan.arenaBytes = plan.persistentBytes;

  for (int32_t index = 0; index < static_cast<int32_t>(ops.size()); ++index) {
    ir::ValueId result = ops[index].result;
    if (result == ir::kNoValue || weightOnly[index]) continue;
    // Buffers whose last reader ran before this op are free again. Operands of this op stay
    // live while it runs, so its result never shares bytes with them.
    if (reuse)
      std::erase_if(live, [&](const Allocation& allocation) { return allocation.last < index; });

    // A view takes bytes of its operand's buffer, which then lives as long as either does.
    if (std::optional<int64_t> offset =
            viewOffsetInArena(graph, ops[index], lifetimes, weightOnly, index);
        reuse && offset) {
      ir::ValueId operand = ops[index].operands[0];
      plan.offsets[result] = plan.offsets[operand] + *offset;
      bufferOf[result] = bufferOf[operand];
      for (Allocation& allocation : live)
        if (allocation.buffer == bufferOf[operand])
          allocation.last = std::max(allocation.last, lifetimes.last[result]);
      continue;
    }

    int64_t bytes = bufferBytes(graph.type(result));
    int64_t offset = 0;
    for (const Allocation& allocation : live) {
      if (allocation.offset - offset >= bytes) break;
      offset = std::max(offset, allocation.offset + allocation.bytes);
    }
    Allocation allocation{offset, bytes, lifetimes.last[result], result};
    live.insert(std::upper_bound(
                    live.begin(), live.end(), allocation,
                    [](const Allocation& a, const Allocation& b) { return a.offset < b.offset; }),
                allocation);
    plan.offsets[result] = offset;
    plan.arenaBytes = std::max(plan.arenaBytes, offset + bytes);
  }
  return plan;
}

void verifyMemoryPlan(const ir::Graph& graph, const MemoryPlan& plan) {
  Lifetimes lifetimes = computeLifetimes(graph);
  // A view and the buffer it is a view of are one buffer, live from the first's start to the
  // last's end.
  std::vector<ir::ValueId> buffer(graph.valueCount());
  for (ir::ValueId id = 0; id < graph.valueCount(); ++id) buffer[id] = id;
  for (const ir::Op& op : graph.ops()) {
    if (!isView(graph, op, plan)) continue;
    ir::ValueId root = buffer[op.operands[0]];
    buffer[op.result] = root;
    lifetimes.last[root] = std::max(lifetimes.last[root], lifetimes.last[op.result]);
  }
  for (ir::ValueId id = 0; id < graph.valueCount(); ++id)
    if (buffer[id] != id) lifetimes.last[id] = lifetimes.last[buffer[id]];
  std::vector<ir::ValueId> results;
  for (ir::ValueId id = 0; id < graph.valueCount(); ++id)
    if (lifetimes.first[id] >= 0) results.push_back(id);

  for (ir::ValueId id : results) {
    if (plan.offsets[id] < 0 || plan.offsets[id] % kAlignment != 0 ||
        plan.offsets[id] + bufferBytes(graph.type(id)) > plan.arenaBytes)
      fail("memory plan: value {} is outside the arena or misaligned", id);
  }
  // Sort by offset so that only neighbours in memory need comparing lifetimes.
  std::sort(results.begin(), results.end(),
            [&](ir::ValueId a, ir::ValueId b) { return plan.offsets[a] < plan.offsets[b]; });
  for (size_t i = 0; i < results.size(); ++i) {
    ir::ValueId a = results[i];
    int64_t endOfA = plan.offsets[a] + bufferBytes(graph.type(a));
    for (size_t j = i + 1; j < results.size() && plan.offsets[results[j]] < endOfA; ++j) {
      ir::ValueId b = results[j];
      if (buffer[a] == buffer[b]) continue;
      bool disjointInTime =
          lifetimes.last[a] < lifetimes.first[b] || lifetimes.last[b] < lifetimes.first[a];
      if (!disjointInTime)
        fail("memory plan: values {} and {} are live together but share bytes", a, b);
    }
  }
}

}  // namespace dlc::codegen
