// Single kernels on the JIT and on the reference executor: the matrix products of the LSTM, one
// LSTM step forward and backward, the head's training step fused or not, the embedding gather
// and its scatter-add, the Adam update.
#include <fmt/format.h>

#include "bench/bench_support.h"
#include "frontend/layers.h"
#include "ir/builder.h"
#include "passes/pass.h"
#include "support/error.h"

namespace dlc::bench {
namespace {

void runGraph(benchmark::State& state, const ir::Graph& graph, const TensorMap& inputs,
              double flops) {
  std::unique_ptr<Executor> executor = makeExecutor(graph, state.range(0));
  randomizeWeights(graph, *executor);
  for (auto _ : state) benchmark::DoNotOptimize(executor->run(inputs));
  state.SetLabel(executorName(state.range(0)));
  if (flops > 0)
    state.counters["GFLOP/s"] =
        benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// (M x K) · (K x N), as the LSTM's step computes them on both questions of a batch of 64 pairs
// stacked (128 x 128 · 128 x 512; 2 x 128 · 128 x 512 for one pair, 64 rows for one question)
// and its input projection over 20 steps, without the lookup (2560 x 128 · 128 x 512); and
// the backward's products: Aᵀ·B for the weight gradients (hᵀ·dz: 128 x 128 · 128 x 512) and
// A·Bᵀ for the gradients of the inputs (dz·Uᵀ: 128 x 512 · 512 x 128).
void BM_MatMul(benchmark::State& state) {
  int64_t m = state.range(1), k = state.range(2), n = state.range(3);
  bool transposeA = state.range(4) == 1, transposeB = state.range(4) == 2;
  Shape aShape = transposeA ? Shape{k, m} : Shape{m, k};
  Shape bShape = transposeB ? Shape{n, k} : Shape{k, n};
  ir::Graph graph("matmul");
  ir::ValueId a = graph.addInput("a", {DType::Float32, aShape});
  ir::ValueId b = graph.addWeight("b", {DType::Float32, bShape}, true);
  ir::Attributes attributes;
  if (transposeA) attributes.set("transpose_a", int64_t{1});
  if (transposeB) attributes.set("transpose_b", int64_t{1});
  graph.addOutput("c", graph.addOp(ir::OpKind::MatMul, {a, b}, attributes));
  runGraph(state, graph, {{"a", randomFloats(aShape, 7)}}, 2.0 * m * n * k);
}
BENCHMARK(BM_MatMul)
    ->ArgsProduct({{kJit, kJitBlas, kReference}, {2, 64, 128, 2560}, {128}, {512}, {0}})
    ->ArgsProduct({{kJit, kJitBlas, kReference}, {128}, {128}, {512}, {1}})
    ->ArgsProduct({{kJit, kJitBlas, kReference}, {128}, {512}, {128}, {2}})
    ->ArgNames({"executor", "m", "k", "n", "transposed"});

/// One Keras LSTM step (gate order i, f, c, o) on a batch and its loss = sum(h'), with the
/// gradients of the loss if `backward`; with `fused`,
/// the gates and state updates as one fused_lstm_cell op.
ir::Graph lstmStep(int64_t batch, int64_t units, bool backward, bool fused) {
  ir::Graph graph("lstm_step");
  ir::Builder b(graph, "lstm");
  ir::ValueId x = graph.addInput("x", {DType::Float32, {batch, units}});
  ir::ValueId h = graph.addInput("h", {DType::Float32, {batch, units}});
  ir::ValueId c = graph.addInput("c", {DType::Float32, {batch, units}});
  ir::ValueId kernel = graph.addWeight("kernel", {DType::Float32, {units, 4 * units}}, true);
  ir::ValueId recurrent = graph.addWeight("recurrent", {DType::Float32, {units, 4 * units}}, true);
  ir::ValueId bias = graph.addWeight("bias", {DType::Float32, {4 * units}}, true);
  ir::ValueId inputPart = b.matmul(x, kernel);
  ir::ValueId z = b.add(b.add(inputPart, b.matmul(h, recurrent)), bias);
  auto gate = [&](int64_t index, ir::OpKind activation) {
    return b.unary(activation, b.slice(z, 1, index * units, (index + 1) * units));
  };
  ir::ValueId i = gate(0, ir::OpKind::Sigmoid);
  ir::ValueId f = gate(1, ir::OpKind::Sigmoid);
  ir::ValueId candidate = gate(2, ir::OpKind::Tanh);
  ir::ValueId o = gate(3, ir::OpKind::Sigmoid);
  ir::ValueId kept = b.mul(f, c);
  ir::ValueId cell = b.add(kept, b.mul(i, candidate));
  ir::ValueId hidden = b.mul(o, b.unary(ir::OpKind::Tanh, cell));
  // The loss is the only output, so that fusion may take the cell's results apart.
  graph.addOutput("loss", b.reduceSum(hidden, {0, 1}, false));
  passes::PassOptions options;
  if (fused && !passes::fuseLstmCell(graph, options)) fail("bench: the LSTM step did not fuse");
  if (backward) passes::differentiate(graph, options);
  passes::eliminateDeadCode(graph, options);
  return graph;
}

void BM_LstmStep(benchmark::State& state) {
  bool backward = state.range(1) != 0;
  ir::Graph graph = lstmStep(64, 128, backward, state.range(2) != 0);
  TensorMap inputs = {{"x", randomFloats({64, 128}, 1)},
                      {"h", randomFloats({64, 128}, 2)},
                      {"c", randomFloats({64, 128}, 3)}};
  // Forward: two 64 x 128 x 512 products; backward adds four more.
  runGraph(state, graph, inputs, (backward ? 6.0 : 2.0) * 2 * 64 * 128 * 512);
}
BENCHMARK(BM_LstmStep)
    ->ArgsProduct({{kJit, kReference}, {0, 1}, {0, 1}})
    ->ArgNames({"executor", "bwd", "fused"});

// The head of the model: the dot of the two LSTM states per pair, then Dense(1, sigmoid).
void BM_FusedDotDense(benchmark::State& state) {
  int64_t batch = state.range(1);
  ir::Graph graph("dot_dense");
  ir::ValueId left = graph.addInput("a", {DType::Float32, {batch, 128}});
  ir::ValueId right = graph.addInput("b", {DType::Float32, {batch, 128}});
  ir::ValueId kernel = graph.addWeight("kernel", {DType::Float32, {1, 1}}, true);
  ir::ValueId bias = graph.addWeight("bias", {DType::Float32, {1}}, true);
  graph.addOutput("p", graph.addOp(ir::OpKind::FusedDotDense, {left, right, kernel, bias},
                                   {{"activation", int64_t(ir::Activation::Sigmoid)}}));
  runGraph(state, graph,
           {{"a", randomFloats({batch, 128}, 1)}, {"b", randomFloats({batch, 128}, 2)}}, 0);
}
BENCHMARK(BM_FusedDotDense)
    ->ArgsProduct({{kJit, kReference}, {1, 64}})
    ->ArgNames({"executor", "batch"});

// The head's training step: the fused dot + dense layer, its binary cross-entropy and the
// gradients of both LSTM states, the kernel and the bias; with `fused`, as the one
// fused_dot_dense_loss_grad op of the training graph, else as autodiff writes it.
void BM_DotDenseLossStep(benchmark::State& state) {
  int64_t batch = state.range(1);
  ir::Graph graph("dot_dense_loss");
  ir::ValueId left = graph.addWeight("a", {DType::Float32, {batch, 128}}, true);
  ir::ValueId right = graph.addWeight("b", {DType::Float32, {batch, 128}}, true);
  ir::ValueId kernel = graph.addWeight("kernel", {DType::Float32, {1, 1}}, true);
  ir::ValueId bias = graph.addWeight("bias", {DType::Float32, {1}}, true);
  ir::ValueId labels = graph.addInput("labels", {DType::Float32, {batch, 1}});
  ir::ValueId p = graph.addOp(ir::OpKind::FusedDotDense, {left, right, kernel, bias},
                              {{"activation", int64_t(ir::Activation::Sigmoid)}});
  graph.addOutput("p", p);
  graph.addOutput("loss", graph.addOp(ir::OpKind::BinaryCrossEntropy, {p, labels}));
  passes::PassOptions options;
  passes::differentiate(graph, options);
  // An update, as a training graph has: executors then run every op on every run, instead of
  // computing once what depends on the weights alone.
  ir::ValueId steps = graph.addState("steps", {DType::Float32, {}});
  graph.addOp(ir::OpKind::Assign, {steps, graph.findOutput("loss")});
  if (state.range(2) != 0 && !passes::fuseDotDenseLoss(graph, options))
    fail("bench: the dot + dense loss did not fuse");
  passes::eliminateDeadCode(graph, options);
  Tensor values(DType::Float32, {batch, 1});
  for (int64_t i = 0; i < batch; ++i) values.data<float>()[i] = static_cast<float>(i % 2);
  runGraph(state, graph, {{"labels", values}}, 0);
}
BENCHMARK(BM_DotDenseLossStep)
    ->ArgsProduct({{kJit, kReference}, {64}, {0, 1}})
    ->ArgNames({"executor", "batch", "fused"});

// The embedding of one batch of questions, and the scatter-add of its gradient.
void BM_GatherScatter(benchmark::State& state) {
  bool scatter = state.range(1) != 0;
  ir::Graph graph("embedding");
  ir::ValueId ids = graph.addInput("ids", {DType::Int32, {64, 20}});
  ir::ValueId table = graph.addWeight("table", {DType::Float32, {50002, 128}}, true);
  if (scatter) {
    ir::ValueId updates = graph.addInput("updates", {DType::Float32, {64, 20, 128}});
    graph.addOutput(
        "out", graph.addOp(ir::OpKind::ScatterAdd, {ids, updates}, {{"rows", int64_t{50002}}}));
  } else {
    graph.addOutput("out", graph.addOp(ir::OpKind::Gather, {table, ids}));
  }
  TensorMap inputs = {{"ids", randomIds({64, 20}, 50002, 5)}};
  if (scatter) inputs["updates"] = randomFloats({64, 20, 128}, 6);
  runGraph(state, graph, inputs, 0);
}
BENCHMARK(BM_GatherScatter)
    ->ArgsProduct({{kJit, kReference}, {0, 1}})
    ->ArgNames({"executor", "scatter"});

// The embedding lookup fused with the LSTM's input projection, as a batch of 64 pairs has it
// (both questions stacked, 128 x 20 ids, time-major): table[ids] · W (2560 x 128 · 128 x 512),
// its weight gradient table[ids]ᵀ · dz and the table's gradient scatter_add(ids, dz · Wᵀ); on
// 1 or 2 threads.
void BM_FusedGather(benchmark::State& state) {
  constexpr int64_t kRows = 2560;
  int64_t form = state.range(1);
  ir::Graph graph("fused_gather");
  ir::ValueId ids = graph.addInput("ids", {DType::Int32, {20, 128}});
  ir::ValueId table = graph.addWeight("table", {DType::Float32, {50002, 128}}, true);
  ir::ValueId dz = graph.addInput("dz", {DType::Float32, {kRows, 512}});
  ir::ValueId kernel = graph.addWeight("kernel", {DType::Float32, {128, 512}}, true);
  ir::ValueId result;
  if (form == 0) {
    result = graph.addOp(ir::OpKind::FusedGatherMatMul, {table, ids, kernel});
  } else if (form == 1) {
    result =
        graph.addOp(ir::OpKind::FusedGatherMatMul, {table, ids, dz}, {{"transpose_a", int64_t{1}}});
  } else {
    result = graph.addOp(ir::OpKind::FusedMatMulScatterAdd, {ids, dz, kernel},
                         {{"rows", int64_t{50002}}});
  }
  graph.addOutput("out", result);
  codegen::setThreadCount(static_cast<int>(state.range(2)));
  runGraph(state, graph,
           {{"ids", randomIds({20, 128}, 50002, 5)}, {"dz", randomFloats({kRows, 512}, 6)}},
           2.0 * kRows * 128 * 512);
  codegen::setThreadCount(1);
}
BENCHMARK(BM_FusedGather)
    ->ArgsProduct({{kJit, kJitBlas}, {0, 1, 2}, {1, 2}})
    ->ArgNames({"executor", "form", "threads"});

// Dense Adam over the embedding table: the optimizer step's memory traffic.
void BM_AdamUpdate(benchmark::State& state) {
  ir::Graph graph("adam");
  Shape shape = {50002, 128};
  ir::ValueId weight = graph.addWeight("w", {DType::Float32, shape}, true);
  ir::ValueId gradient = graph.addInput("g", {DType::Float32, shape});
  ir::ValueId m = graph.addState("m", {DType::Float32, shape});
  ir::ValueId v = graph.addState("v", {DType::Float32, shape});
  ir::ValueId step = graph.addState("step", {DType::Float32, {}});
  graph.addOp(ir::OpKind::AdamUpdate, {weight, gradient, m, v, step},
              {{"learning_rate", 1e-3}, {"beta_1", 0.9}, {"beta_2", 0.999}, {"epsilon", 1e-7}});
  runGraph(state, graph, {{"g", randomFloats(shape, 9)}}, 0);
  state.SetBytesProcessed(state.iterations() * numElements(shape) * 28);
}
BENCHMARK(BM_AdamUpdate)->Arg(kJit)->Arg(kReference);

// The embedding's update as training does it: the touched rows of both questions of a batch
// (2 x 64 x 20 ids) collected by sparse_gradient, then Adam over the whole table in one pass
// (exact, lazy = 0) or over the touched rows only (lazy = 1).
void BM_AdamUpdateRows(benchmark::State& state) {
  bool lazy = state.range(1) != 0;
  ir::Graph graph("adam_rows");
  Shape shape = {50002, 128};
  ir::ValueId weight = graph.addWeight("w", {DType::Float32, shape}, true);
  ir::ValueId m = graph.addState("m", {DType::Float32, shape});
  ir::ValueId v = graph.addState("v", {DType::Float32, shape});
  ir::ValueId step = graph.addState("step", {DType::Float32, {}});
  std::vector<ir::ValueId> parts;
  TensorMap inputs;
  for (int question = 0; question < 2; ++question) {
    std::string ids = fmt::format("ids{}", question), updates = fmt::format("updates{}", question);
    parts.push_back(graph.addInput(ids, {DType::Int32, {64, 20}}));
    parts.push_back(graph.addInput(updates, {DType::Float32, {64, 20, 128}}));
    inputs[ids] = randomIds({64, 20}, 50002, 10 + question);
    inputs[updates] = randomFloats({64, 20, 128}, 20 + question);
  }
  ir::ValueId sparse = graph.addOp(ir::OpKind::SparseGradient, parts, {{"rows", int64_t{50002}}});
  graph.addOp(ir::OpKind::AdamUpdateRows, {weight, sparse, m, v, step},
              {{"learning_rate", 1e-3},
               {"beta_1", 0.9},
               {"beta_2", 0.999},
               {"epsilon", 1e-7},
               {"lazy", int64_t{lazy}}});
  runGraph(state, graph, inputs, 0);
  if (!lazy) state.SetBytesProcessed(state.iterations() * numElements(shape) * 24);
}
BENCHMARK(BM_AdamUpdateRows)
    ->ArgsProduct({{kJit, kReference}, {0, 1}})
    ->ArgNames({"executor", "lazy"});

}  // namespace
}  // namespace dlc::bench
