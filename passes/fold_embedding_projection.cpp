// Folds an embedding into the product that reads it, at inference. When the table and the
// kernel are weights that no op updates, fused_gather_matmul(table, ids, kernel) becomes a gather
// of the rows of table · kernel: a [V, N] product on weights alone, which executors compute once
// each time weights are bound (ir::weightOnlyOps) rather than on every run. Each run then looks
// up N-wide rows instead of multiplying D-wide ones.
//
// The cost rule: the folded table takes V·N·4 bytes and 2·V·D·N flops each time weights are
// bound; each run saves 2·n·D·N flops for its n ids (all lookups of one table through one kernel
// share the folded table) and reads n·N floats instead of n·D. Fold when the folded table fits
// in kMaxFoldedBytes and the binding's product is paid back within kMaxPaybackRuns runs.
#include <cmath>
#include <map>

#include "ir/builder.h"
#include "passes/patterns.h"

namespace dlc::passes {

namespace {

constexpr const char* kPass = "fold-embedding-projection";
constexpr double kMaxFoldedBytes = 1024.0 * 1024 * 1024;
constexpr double kMaxPaybackRuns = 10000;

struct Lookup {
  ir::ValueId ids, result;
  std::string origin;
};

bool isWeight(const ir::Graph& graph, ir::ValueId value) {
  return graph.value(value).kind == ir::ValueKind::Weight;
}

}  // namespace

bool foldEmbeddingProjection(ir::Graph& graph, const PassOptions& options) {
  if (options.training) {
    explainDecision(options, kPass, "not folded: training changes the weights on every step");
    return false;
  }
  std::vector<std::vector<int32_t>> users = ir::usersOf(graph);
  // Lookups grouped by (table, kernel).
  std::map<std::pair<ir::ValueId, ir::ValueId>, std::vector<Lookup>> groups;
  for (const ir::Op& op : graph.ops()) {
    if (op.kind != ir::OpKind::FusedGatherMatMul || op.attributes.has("transpose_a")) continue;
    if (!isWeight(graph, op.operands[0]) || !isWeight(graph, op.operands[2])) {
      explainDecision(options, kPass,
                      "not folded: the lookup at '{}' reads a computed table or kernel", op.origin);
      continue;
    }
    groups[{op.operands[0], op.operands[2]}].push_back({op.operands[1], op.result, op.origin});
  }

  bool changed = false;
  for (const auto& [key, lookups] : groups) {
    auto [table, kernel] = key;
    int64_t rows = graph.type(table).shape[0], width = graph.type(table).shape[1];
    int64_t columns = graph.type(kernel).shape[1];
    int64_t idsPerRun = 0;
    for (const Lookup& lookup : lookups) idsPerRun += graph.type(lookup.ids).numElements();

    double foldedBytes = 4.0 * rows * columns;
    double bindingFlops = 2.0 * rows * width * columns;
    double savedFlops = 2.0 * idsPerRun * width * columns;
    double paybackRuns = bindingFlops / savedFlops;
    std::string names =
        fmt::format("'{}' through '{}'", graph.value(table).name, graph.value(kernel).name);
    std::string cost = fmt::format(
        "a {} x {} table ({:.1f} MiB, {:.2f} GFLOP each time weights are bound) against "
        "{:.1f} MFLOP saved per run, paid back after {:.0f} runs",
        rows, columns, foldedBytes / (1024 * 1024), bindingFlops * 1e-9, savedFlops * 1e-6,
        std::ceil(paybackRuns));
    if (foldedBytes > kMaxFoldedBytes || paybackRuns > kMaxPaybackRuns) {
      explainDecision(options, kPass, "not folded: {}: {} (limits: {:.0f} MiB, {:.0f} runs)", names,
                      cost, kMaxFoldedBytes / (1024 * 1024), kMaxPaybackRuns);
      continue;
    }
    explainDecision(options, kPass, "folded {}: {}", names, cost);

    ir::Builder builder(graph, lookups.front().origin + "/folded-embedding");
    ir::ValueId folded = builder.matmul(table, kernel);
    for (const Lookup& lookup : lookups) {
      ir::ValueId rowsOfFolded = builder.op(ir::OpKind::Gather, {folded, lookup.ids});
      // Readers that reshape the rows back to the ids' shape read the gather directly.
      for (int32_t user : users[lookup.result]) {
        const ir::Op& reader = graph.ops()[user];
        if (reader.kind == ir::OpKind::Reshape &&
            graph.type(reader.result) == graph.type(rowsOfFolded))
          ir::replaceAllUses(graph, reader.result, rowsOfFolded);
      }
      ir::replaceAllUses(graph, lookup.result,
                         builder.reshape(rowsOfFolded, graph.type(lookup.result).shape));
    }
    changed = true;
  }
  return finishRewrite(graph, options, changed);
}

}  // namespace dlc::passes
