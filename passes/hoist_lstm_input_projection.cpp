// Hoists an unrolled LSTM's input projection out of the recurrence: the T products
// x_t · kernel (one per step, each B x D by D x 4U) become one (T·B x D by D x 4U) product on
// the whole sequence, whose rows each step then reads. The rows go step by step (time-major),
// so that each step's part is one contiguous block, which the memory plan makes a view; a
// sequence of looked-up rows is looked up in that order (the ids transposed, not the rows).
#include <map>

#include "ir/builder.h"
#include "passes/patterns.h"

namespace dlc::passes {

namespace {

/// A step's product x_t · kernel, with x_t = reshape(slice(sequence, axis 1, t, t + 1)).
struct StepProduct {
  ir::ValueId result;
  int64_t step;
};

/// The [batch, steps, features] `sequence` as [steps * batch, features] rows, step by step.
ir::ValueId timeMajorRows(ir::Graph& graph, ir::Builder& builder, const GraphIndex& index,
                          ir::ValueId sequence) {
  const Shape& shape = graph.type(sequence).shape;
  int64_t rows = shape[0] * shape[1], features = shape[2];
  if (const ir::Op* gather = index.producer(sequence, ir::OpKind::Gather);
      gather && graph.type(gather->operands[1]).rank() == 2) {
    ir::ValueId table = gather->operands[0], ids = gather->operands[1];
    ir::ValueId stepIds = builder.transpose(ids, {1, 0});
    return builder.reshape(builder.op(ir::OpKind::Gather, {table, stepIds}), {rows, features});
  }
  return builder.reshape(builder.transpose(sequence, {1, 0, 2}), {rows, features});
}

}  // namespace

bool hoistLstmInputProjection(ir::Graph& graph, const PassOptions& options) {
  GraphIndex index(graph);
  // Products grouped by (sequence, kernel).
  std::map<std::pair<ir::ValueId, ir::ValueId>, std::vector<StepProduct>> groups;
  std::map<std::pair<ir::ValueId, ir::ValueId>, std::string> origins;
  for (const ir::Op& op : graph.ops()) {
    if (op.kind != ir::OpKind::MatMul || op.attributes.has("transpose_a") ||
        op.attributes.has("transpose_b"))
      continue;
    const ir::Op* reshape = index.producer(op.operands[0], ir::OpKind::Reshape);
    const ir::Op* slice =
        reshape ? index.producer(reshape->operands[0], ir::OpKind::Slice) : nullptr;
    if (!slice || slice->attributes.getInt("axis") != 1) continue;
    ir::ValueId sequence = slice->operands[0];
    const Shape& shape = graph.type(sequence).shape;
    int64_t start = slice->attributes.getInt("start");
    if (shape.size() != 3 || slice->attributes.getInt("end") != start + 1) continue;
    groups[{sequence, op.operands[1]}].push_back({op.result, start});
    origins[{sequence, op.operands[1]}] = op.origin;
  }

  bool changed = false;
  for (auto& [key, products] : groups) {
    auto [sequence, kernel] = key;
    const Shape& shape = graph.type(sequence).shape;
    int64_t batch = shape[0], steps = shape[1];
    if (static_cast<int64_t>(products.size()) != steps) {
      explainRefusal(options, "hoist-lstm-input-projection",
                     "{} of {} steps multiply the same sequence and kernel", products.size(),
                     steps);
      continue;
    }

    ir::Builder builder(graph, origins[key]);
    ir::ValueId projected = builder.matmul(timeMajorRows(graph, builder, index, sequence), kernel);
    for (const StepProduct& product : products) {
      int64_t start = product.step * batch;
      ir::replaceAllUses(graph, product.result, builder.slice(projected, 0, start, start + batch));
    }
    changed = true;
  }
  return finishRewrite(graph, options, changed);
}

}  // namespace dlc::passes
