// Fuses what is added to a matrix product into the product:
//
//   add(matmul(a, b), addend)          ->  fused_matmul_add(a, b, addend)
//   add(add(matmul(a, b), addend), c)  ->  fused_matmul_add(a, b, addend, c), c a row of biases
//
// An LSTM step's z = x_t W + h U + bias is such a sum: its kernel starts each tile's sums from
// the addend and the bias, so z is written once instead of the product being written, read
// back and written again. It runs after autodiff (no gradient rule is needed) and before
// fuse-elementwise, which would take the adds into a loop of their own. The product must have
// no other user, and a plain product (no transposes).
#include "ir/builder.h"
#include "passes/patterns.h"

namespace dlc::passes {

namespace {

constexpr const char* kPass = "fuse-matmul-add";

struct ProductSum {
  std::vector<ir::ValueId> operands;  // a, b, addend (, bias)
  ir::ValueId result;
  std::string origin;
};

bool isPlainProduct(const ir::Op* op) {
  return op && !op->attributes.has("transpose_a") && !op->attributes.has("transpose_b");
}

}  // namespace

bool fuseMatMulAdd(ir::Graph& graph, const PassOptions& options) {
  GraphIndex index(graph);
  std::vector<std::vector<int32_t>> users = ir::usersOf(graph);
  std::vector<bool> taken(graph.valueCount(), false);
  std::vector<ProductSum> matches;
  for (const ir::Op& op : graph.ops()) {
    if (op.kind != ir::OpKind::Add || taken[op.result]) continue;
    const Shape& shape = graph.type(op.result).shape;
    // Either operand may be the product; the other must be a whole [M, N] addend.
    for (int side : {0, 1}) {
      const ir::Op* product = index.producer(op.operands[side], ir::OpKind::MatMul);
      ir::ValueId addend = op.operands[1 - side];
      if (!isPlainProduct(product) || graph.type(addend).shape != shape) continue;
      if (std::string reason = index.whyShared(product->result); !reason.empty()) {
        explainRefusal(options, kPass, "the product at '{}' {}", product->origin, reason);
        break;
      }

      ProductSum match{{product->operands[0], product->operands[1], addend}, op.result, op.origin};
      // A bias added next, to every row, joins the sum.
      if (index.whyShared(op.result).empty() && users[op.result].size() == 1) {
        const ir::Op& next = graph.ops()[users[op.result][0]];
        int biasSide = next.operands[0] == op.result ? 1 : 0;
        ir::ValueId bias = next.operands[biasSide];
        if (next.kind == ir::OpKind::Add && next.operands[1 - biasSide] == op.result &&
            graph.type(bias).shape == Shape{shape[1]}) {
          match.operands.push_back(bias);
          match.result = next.result;
          taken[next.result] = true;
        }
      }
      matches.push_back(std::move(match));
      break;
    }
  }

  for (const ProductSum& match : matches) {
    ir::Builder builder(graph, match.origin);
    ir::replaceAllUses(graph, match.result,
                       builder.op(ir::OpKind::FusedMatMulAdd, match.operands));
  }
  return finishRewrite(graph, options, !matches.empty());
}

}  // namespace dlc::passes
