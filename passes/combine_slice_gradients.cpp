// Combines the gradients of the slices of one value. Autodiff gives each slice's gradient as a
// zero-padded full-size tensor and adds them up, which for the T steps of an unrolled sequence
// moves T full-size tensors; when the padded pieces are disjoint, one concat of the pieces (and
// zeros for any gap) computes the same sum in one pass.
#include <algorithm>

#include "ir/builder.h"
#include "passes/patterns.h"

namespace dlc::passes {

namespace {

struct Piece {
  int64_t start, size;
  ir::ValueId value;  // the unpadded gradient
};

/// Collects the pads under a tree of single-use adds; false if a leaf is anything else.
bool collectPads(const ir::Graph& graph, const GraphIndex& index, ir::ValueId value, bool root,
                 int64_t& axis, std::vector<Piece>& pieces) {
  if (!root && index.uses(value) != 1) return false;
  if (const ir::Op* add = index.producer(value, ir::OpKind::Add)) {
    if (graph.type(add->operands[0]).shape != graph.type(add->operands[1]).shape) return false;
    return collectPads(graph, index, add->operands[0], false, axis, pieces) &&
           collectPads(graph, index, add->operands[1], false, axis, pieces);
  }
  const ir::Op* pad = index.producer(value, ir::OpKind::Pad);
  if (!pad || root) return false;
  int64_t padAxis = pad->attributes.getInt("axis");
  if (axis >= 0 && padAxis != axis) return false;
  axis = padAxis;
  pieces.push_back({pad->attributes.getInt("before"), graph.type(pad->operands[0]).shape[axis],
                    pad->operands[0]});
  return true;
}

}  // namespace

bool combineSliceGradients(ir::Graph& graph, const PassOptions& options) {
  GraphIndex index(graph);
  std::vector<std::vector<int32_t>> users = ir::usersOf(graph);
  std::vector<std::tuple<ir::ValueId, int64_t, std::vector<Piece>, std::string>> sums;
  for (const ir::Op& op : graph.ops()) {
    if (op.kind != ir::OpKind::Add) continue;
    // Only the root of a tree of adds: not an add read by exactly one other add.
    if (index.uses(op.result) == 1 && users[op.result].size() == 1 &&
        graph.ops()[users[op.result][0]].kind == ir::OpKind::Add)
      continue;
    int64_t axis = -1;
    std::vector<Piece> pieces;
    if (!collectPads(graph, index, op.result, true, axis, pieces) || pieces.size() < 2) continue;
    std::sort(pieces.begin(), pieces.end(),
              [](const Piece& a, const Piece& b) { return a.start < b.start; });
    bool disjoint = true;
    for (size_t i = 1; i < pieces.size(); ++i)
      disjoint &= pieces[i - 1].start + pieces[i - 1].size <= pieces[i].start;
    if (!disjoint) continue;
    sums.emplace_back(op.result, axis, std::move(pieces), op.origin);
  }

  for (auto& [sum, axis, pieces, origin] : sums) {
    ir::Builder builder(graph, origin);
    Shape shape = graph.type(sum).shape;
    std::vector<ir::ValueId> parts;
    int64_t position = 0;
    auto zeros = [&](int64_t size) {
      Shape gap = shape;
      gap[axis] = size;
      parts.push_back(builder.fill(gap, 0.0));
    };
    for (const Piece& piece : pieces) {
      if (piece.start > position) zeros(piece.start - position);
      parts.push_back(piece.value);
      position = piece.start + piece.size;
    }
    if (position < shape[axis]) zeros(shape[axis] - position);
    ir::replaceAllUses(graph, sum, builder.concat(parts, axis));
  }
  return finishRewrite(graph, options, !sums.empty());
}

}  // namespace dlc::passes
