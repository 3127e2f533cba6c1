// dlc weights export / import, and dlc run.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "frontend/lowering.h"
#include "runtime/jit_executor.h"
#include "runtime/safetensors.h"
#include "runtime/session.h"
#include "runtime/weights.h"
#include "support/error.h"
#include "tools/commands.h"

namespace dlc::tools {

void addWeightsCommand(CLI::App& app) {
  auto* command = app.add_subcommand("weights", "Move weights in and out as safetensors");
  command->require_subcommand(1);

  auto* exportCommand = command->add_subcommand(
      "export", "Write the model's weights (fresh ones from --seed if it has none)");
  struct ExportOptions {
    std::string model, output;
    uint64_t seed = 0;
  };
  auto exportOptions = std::make_shared<ExportOptions>();
  exportCommand->add_option("model", exportOptions->model, "Model file")->required();
  exportCommand->add_option("-o,--output", exportOptions->output, "safetensors file")->required();
  exportCommand->add_option("--seed", exportOptions->seed, "Seed of the initializers")
      ->check(kSeedNumber);
  exportCommand->callback([=] {
    LoadedModel loaded = loadAnalyzedModel(exportOptions->model);
    writeSafetensors(exportOptions->output,
                     modelWeights(loaded.model, loaded.analysis, exportOptions->seed));
  });

  auto* importCommand =
      command->add_subcommand("import", "Store weights from a safetensors file in a model");
  struct ImportOptions {
    std::string model, weights, output;
  };
  auto importOptions = std::make_shared<ImportOptions>();
  importCommand->add_option("model", importOptions->model, "Model file")->required();
  importCommand->add_option("weights", importOptions->weights, "safetensors file")->required();
  importCommand->add_option("-o,--output", importOptions->output, "Model file to write")
      ->required();
  importCommand->callback([=] {
    LoadedModel loaded = loadAnalyzedModel(importOptions->model);
    TensorMap weights = readSafetensors(importOptions->weights);
    checkWeights(weights, loaded.analysis, importOptions->weights);
    loaded.model.weights = toSchemaTensors(weights);
    saveModel(loaded.model, importOptions->output);
  });
}

namespace {

struct RunOptions {
  std::string model, inputs, output, labels, executor = "jit";
  bool gradients = false;
  int trainSteps = 0;
  uint64_t seed = 0;
};

/// The batch size of the inputs: the first dimension every model input shares.
int64_t batchSizeOf(const LoadedModel& loaded, const TensorMap& inputs, const std::string& path) {
  int64_t batch = -1;
  for (const std::string& name : loaded.model.inputs) {
    auto found = inputs.find(name);
    if (found == inputs.end())
      fail("{}: has no tensor '{}' for the model input of that name", path, name);
    const Shape& shape = found->second.shape();
    if (shape.empty() || (batch >= 0 && shape[0] != batch))
      fail("{}: the model inputs must share their first (batch) dimension", path);
    if (shape[0] < 1)
      fail("{}: tensor '{}' holds no samples (its batch dimension is 0)", path, name);
    batch = shape[0];
  }
  return batch;
}

void run(const RunOptions& options) {
  LoadedModel loaded = loadAnalyzedModel(options.model);
  TensorMap inputs = readSafetensors(options.inputs);
  int64_t batch = batchSizeOf(loaded, inputs, options.inputs);

  bool training = !options.labels.empty();
  if ((options.gradients || options.trainSteps > 0) && !training)
    fail("--gradients and --train-steps need --labels");

  SessionOptions sessionOptions;
  sessionOptions.batchSize = batch;
  sessionOptions.training = training;
  sessionOptions.keepGradients = options.gradients;
  sessionOptions.withOptimizer = options.trainSteps > 0;
  // The loss alone needs no backward pass.
  if (training && !options.gradients && !sessionOptions.withOptimizer)
    sessionOptions.passes.disabled.insert("autodiff");
  sessionOptions.executor = options.executor == "jit" ? ExecutorKind::Jit : ExecutorKind::Reference;
  Session session(loaded.model, loaded.analysis, sessionOptions);
  session.setWeights(modelWeights(loaded.model, loaded.analysis, options.seed));

  TensorMap feeds;
  for (const std::string& name : loaded.model.inputs) {
    const ir::Type& expected = session.graph().type(session.graph().findNamed(name));
    const Tensor& tensor = inputs.at(name);
    if (tensor.dtype() != expected.dtype || tensor.shape() != expected.shape) {
      // The batch is whatever the tensors' first dimension says: name it as such.
      Shape sample(expected.shape.begin() + 1, expected.shape.end());
      fail("{}: tensor '{}' must be {}[batch{}{}] for the model input of that name (here batch "
           "{}), got {}{}",
           options.inputs, name, dtypeName(expected.dtype), sample.empty() ? "" : ", ",
           fmt::join(sample, ", "), batch, dtypeName(tensor.dtype()), formatShape(tensor.shape()));
    }
    feeds[name] = tensor;
  }
  if (training) {
    auto found = inputs.find(options.labels);
    if (found == inputs.end())
      fail("{}: has no tensor '{}' (--labels)", options.inputs, options.labels);
    Tensor labels = found->second;
    const ir::Type& expected = session.graph().type(session.graph().findNamed(kLabelsInput));
    if (labels.dtype() != DType::Float32 || labels.numElements() != expected.numElements())
      fail("{}: labels '{}' must be {} f32 values, got {}{}", options.inputs, options.labels,
           expected.numElements(), dtypeName(labels.dtype()), formatShape(labels.shape()));
    labels.reshape(expected.shape);
    auto values = labels.data<float>();
    // Binary cross-entropy takes probabilities (0, 1, or soft labels between them), the mean
    // squared error any finite target.
    bool crossEntropy = lossOf(loaded.model) == schema::LossKind::BinaryCrossentropy;
    auto bad = std::find_if(values.begin(), values.end(), [&](float v) {
      return crossEntropy ? !(v >= 0.0f && v <= 1.0f) : !std::isfinite(v);
    });
    if (bad != values.end())
      fail("{}: labels '{}' hold {} at index {}; {}", options.inputs, options.labels, *bad,
           bad - values.begin(),
           crossEntropy ? "binary cross-entropy needs labels in [0, 1]"
                        : "the mean squared error needs finite labels");
    feeds[kLabelsInput] = std::move(labels);
  }

  // Checked here too, to name the file the ids came from (the executors check them anyway).
  try {
    checkTokenIds(tokenIdInputs(session.graph()), feeds);
  } catch (const Error& error) {
    fail("{}: {}", options.inputs, error.what());
  }

  TensorMap outputs;
  if (options.trainSteps > 0) {
    std::vector<float> losses;
    for (int step = 0; step < options.trainSteps; ++step) {
      TensorMap stepOutputs = session.run(feeds);
      float loss = stepOutputs.at(kLossOutput).data<float>()[0];
      if (!std::isfinite(loss))
        fail("{}: the loss is {} at training step {}; nothing was written", options.inputs, loss,
             step + 1);
      losses.push_back(loss);
      if (step == 0) outputs = std::move(stepOutputs);  // outputs before any update
    }
    outputs["losses"] = Tensor::fromFloats({options.trainSteps}, losses);
    for (auto& [name, tensor] : session.weights()) outputs[name] = tensor;
  } else {
    outputs = session.run(feeds);
  }
  if (outputs.count(kLossOutput)) outputs[kLossOutput].reshape({1});
  writeSafetensors(options.output, outputs);
}

}  // namespace

void addRunCommand(CLI::App& app) {
  auto* command = app.add_subcommand("run", "Evaluate a model on tensors from a safetensors file");
  auto options = std::make_shared<RunOptions>();
  command->add_option("model", options->model, "Model file")->required();
  command->add_option("--inputs", options->inputs, "safetensors file with a tensor per model input")
      ->required();
  command->add_option("-o,--output", options->output, "safetensors file to write")->required();
  command->add_option("--labels", options->labels,
                      "Tensor of the inputs file holding the labels: also write the loss");
  command->add_flag("--gradients", options->gradients, "Also write grad/<layer>/<weight>");
  command
      ->add_option("--train-steps", options->trainSteps,
                   "Run this many optimizer steps on the batch; write the weights and losses")
      ->check(CLI::Range(0, 1000000));
  command
      ->add_option("--executor", options->executor,
                   "jit (native code, the default) or reference (the interpreter)")
      ->check(CLI::IsMember({"jit", "reference"}));
  command
      ->add_option("--seed", options->seed, "Seed of the initializers, if the model has no weights")
      ->check(kSeedNumber);
  command->callback([=] { run(*options); });
}

}  // namespace dlc::tools
