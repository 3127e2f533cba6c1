// Fuses the elementwise part of an LSTM step, from the gate pre-activations z to the new hidden
// and cell states, into one fused_lstm_cell op (one pass over memory instead of a dozen):
//
//   i = σ(z[:, 0:U])  f = σ(z[:, U:2U])  g = act(z[:, 2U:3U])  o = σ(z[:, 3U:4U])
//   c' = f·c + i·g    h' = o·act(c')
//
// It runs before autodiff, so the backward pass gets fused_lstm_cell_grad from the fused op's
// gradient rule. The pieces must have no other users; h' and c' may (they are read from the
// fused op's packed result).
#include <map>
#include <optional>

#include "ir/builder.h"
#include "passes/patterns.h"

namespace dlc::passes {

namespace {

constexpr const char* kPass = "fuse-lstm-cell";

/// A gate: an activation of a quarter of z.
struct Gate {
  ir::ValueId z = ir::kNoValue;
  int64_t quarter = -1;
  ir::Activation activation = ir::Activation::Linear;
  std::vector<ir::ValueId> pieces;  // values that disappear with the fusion
};

/// Reads `value` as act(slice(z, axis 1, quarter·U, (quarter+1)·U)), or act = linear.
std::optional<Gate> matchGate(const ir::Graph& graph, const GraphIndex& index, ir::ValueId value,
                              int64_t units) {
  Gate gate;
  const ir::Op* op = index.producer(value);
  if (!op) return std::nullopt;
  ir::ValueId sliced = value;
  if (auto activation = activationOf(op->kind)) {
    gate.activation = *activation;
    gate.pieces.push_back(value);
    sliced = op->operands[0];
  }
  const ir::Op* slice = index.producer(sliced, ir::OpKind::Slice);
  if (!slice || slice->attributes.getInt("axis") != 1) return std::nullopt;
  int64_t start = slice->attributes.getInt("start");
  if (slice->attributes.getInt("end") != start + units || start % units != 0) return std::nullopt;
  gate.z = slice->operands[0];
  if (graph.type(gate.z).shape.size() != 2 || graph.type(gate.z).shape[1] != 4 * units)
    return std::nullopt;
  gate.quarter = start / units;
  gate.pieces.push_back(sliced);
  return gate;
}

struct Cell {
  ir::ValueId z, state, newCell, hidden;
  ir::Activation activation, recurrentActivation;
  std::vector<ir::ValueId> pieces;
  std::string origin;
};

/// Matches c' = f·c + i·g at the add producing `newCell`, then h' = o·act(c') among its users.
std::optional<Cell> matchCell(const ir::Graph& graph, const GraphIndex& index,
                              const std::vector<std::vector<int32_t>>& users, ir::ValueId newCell) {
  const ir::Op* add = index.producer(newCell, ir::OpKind::Add);
  const ir::Op* kept = add ? index.producer(add->operands[0], ir::OpKind::Mul) : nullptr;
  const ir::Op* added = add ? index.producer(add->operands[1], ir::OpKind::Mul) : nullptr;
  if (!kept || !added) return std::nullopt;
  const Shape& shape = graph.type(newCell).shape;
  if (shape.size() != 2) return std::nullopt;
  int64_t units = shape[1];

  auto forget = matchGate(graph, index, kept->operands[0], units);
  auto input = matchGate(graph, index, added->operands[0], units);
  auto candidate = matchGate(graph, index, added->operands[1], units);
  if (!forget || !input || !candidate || forget->quarter != 1 || input->quarter != 0 ||
      candidate->quarter != 2 || forget->z != input->z || input->z != candidate->z ||
      forget->activation != input->activation)
    return std::nullopt;

  Cell cell{input->z,
            kept->operands[1],
            newCell,
            ir::kNoValue,
            candidate->activation,
            input->activation,
            {add->operands[0], add->operands[1]},
            add->origin};
  for (const Gate* gate : {&*forget, &*input, &*candidate})
    cell.pieces.insert(cell.pieces.end(), gate->pieces.begin(), gate->pieces.end());

  // h' = o · act(c'): act(c') is read by the product with the output gate.
  for (int32_t user : users[newCell]) {
    const ir::Op& squash = graph.ops()[user];
    std::optional<ir::Activation> squashKind = activationOf(squash.kind);
    if (!squashKind || *squashKind != cell.activation) continue;
    for (int32_t productIndex : users[squash.result]) {
      const ir::Op& product = graph.ops()[productIndex];
      if (product.kind != ir::OpKind::Mul || product.operands[1] != squash.result) continue;
      auto output = matchGate(graph, index, product.operands[0], units);
      if (!output || output->quarter != 3 || output->z != cell.z ||
          output->activation != cell.recurrentActivation)
        continue;
      cell.hidden = product.result;
      cell.pieces.push_back(squash.result);
      cell.pieces.insert(cell.pieces.end(), output->pieces.begin(), output->pieces.end());
      return cell;
    }
  }
  return std::nullopt;
}

}  // namespace

bool fuseLstmCell(ir::Graph& graph, const PassOptions& options) {
  GraphIndex index(graph);
  std::vector<std::vector<int32_t>> users = ir::usersOf(graph);
  std::vector<Cell> cells;
  for (const ir::Op& op : graph.ops()) {
    if (op.kind != ir::OpKind::Add) continue;
    std::optional<Cell> cell = matchCell(graph, index, users, op.result);
    if (!cell) continue;
    // The gate values and the slices of z must serve this cell only: fusing would otherwise
    // compute them twice.
    std::string reason;
    for (ir::ValueId piece : cell->pieces)
      if (reason.empty()) reason = index.whyShared(piece);
    if (!reason.empty()) {
      explainRefusal(options, kPass, "a gate of the LSTM step at '{}' {}", op.origin, reason);
      continue;
    }
    cells.push_back(*cell);
  }

  // A step's state is the previous step's new cell, which an earlier rewrite replaced.
  std::map<ir::ValueId, ir::ValueId> replaced;
  auto current = [&](ir::ValueId value) {
    auto found = replaced.find(value);
    return found == replaced.end() ? value : found->second;
  };
  for (const Cell& cell : cells) {
    int64_t batch = graph.type(cell.state).shape[0], units = graph.type(cell.state).shape[1];
    ir::Builder builder(graph, cell.origin);
    ir::ValueId fused =
        builder.op(ir::OpKind::FusedLstmCell, {current(cell.z), current(cell.state)},
                   {{"activation", static_cast<int64_t>(cell.activation)},
                    {"recurrent_activation", static_cast<int64_t>(cell.recurrentActivation)}});
    ir::ValueId hidden = builder.reshape(builder.slice(fused, 0, 0, 1), {batch, units});
    ir::ValueId newCell = builder.reshape(builder.slice(fused, 0, 1, 2), {batch, units});
    ir::replaceAllUses(graph, cell.hidden, hidden);
    ir::replaceAllUses(graph, cell.newCell, newCell);
    replaced[cell.hidden] = hidden;
    replaced[cell.newCell] = newCell;
  }
  return finishRewrite(graph, options, !cells.empty());
}

}  // namespace dlc::passes
