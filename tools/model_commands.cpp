// dlc summary, dlc compile, dlc convert.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iostream>
#include <optional>
#include <set>

#include "codegen/jit.h"
#include "frontend/lowering.h"
#include "frontend/summary.h"
#include "ir/printer.h"
#include "passes/pass.h"
#include "runtime/compiled_model.h"
#include "runtime/trainer.h"
#include "schema/dlc_compiled_generated.h"
#include "support/error.h"
#include "support/file_io.h"
#include "tools/commands.h"

namespace dlc::tools {

const CLI::Validator kPositiveFiniteNumber(
    [](std::string& text) -> std::string {
      double value = 0;
      if (CLI::detail::lexical_cast(text, value) && std::isfinite(value) && value > 0) return {};
      return fmt::format("expected a finite number above 0, got {}", text);
    },
    "NUMBER > 0");

const CLI::Validator kSeedNumber(
    [](std::string& text) -> std::string {
      uint64_t value = 0;
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error == std::errc() && end == text.data() + text.size()) return {};
      return fmt::format("expected a whole number from 0 to 18446744073709551615, got {}", text);
    },
    "UINT64");

LoadedModel loadAnalyzedModel(const std::string& path, CompiledGraphUse compiledGraph) {
  // A compiled graph holds the model it was compiled from, with its weights and tokenizer
  // (parseModel refuses it, naming what it is).
  std::vector<std::byte> contents = readFile(path);
  if (compiledGraph == CompiledGraphUse::AsItsModel && contents.size() >= 8 &&
      schema::CompiledGraphBufferHasIdentifier(contents.data())) {
    CompiledGraphFile compiled = parseCompiledGraph(contents, path);
    return {path, std::move(compiled.model), std::move(compiled.analysis)};
  }
  LoadedModel loaded{path, parseModel(contents, path), {}};
  loaded.analysis = analyzeModel(loaded.model, path);
  return loaded;
}

void addSummaryCommand(CLI::App& app) {
  auto* command =
      app.add_subcommand("summary", "Print the Keras-style table of layers and weights");
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  command->add_option("model", *path, "Model file (binary or JSON form)")->required();
  command->add_flag("--json", *json, "Print the summary as one JSON object");
  command->callback([=] {
    LoadedModel loaded = loadAnalyzedModel(*path);
    if (*json) {
      fmt::print("{}\n", summaryJson(loaded.model, loaded.analysis).dump(2));
    } else {
      fmt::print("{}", formatSummary(loaded.model, loaded.analysis));
    }
  });
}

void addCompileCommand(CLI::App& app) {
  auto* command = app.add_subcommand(
      "compile", "Compile a model to native code (-o), or print one stage of it (--emit)");
  struct Options {
    std::string path, output;
    std::string emit;
    std::optional<int64_t> batch;  // default: the model's training.batch_size
    bool training = false;
    bool printAfterAll = false;
    bool verbose = false;
    bool noFusion = false;
    std::vector<std::string> disabled;
  };
  auto options = std::make_shared<Options>();
  command->add_option("model", options->path, "Model file")->required();
  command->add_option("-o,--output", options->output,
                      "Compiled graph to write (native code, memory plan, weights)");
  command
      ->add_option("--emit", options->emit,
                   "Print a stage instead: ir-lowered, ir (after the passes), llvm (the optimized "
                   "LLVM IR), asm")
      ->check(CLI::IsMember({"ir", "ir-lowered", "llvm", "asm"}));
  command
      ->add_option("--batch", options->batch,
                   "Batch size the graph is built for (default: the model's training.batch_size)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  command->add_flag("--training", options->training,
                    "Build the training step: loss, backward pass and optimizer updates");
  command->add_flag("--print-ir-after-all", options->printAfterAll,
                    "Print the IR after every pass (on stderr)");
  command->add_option("--disable-pass", options->disabled, "Do not run this pass (repeatable)");
  command->add_flag("--no-fusion", options->noFusion, "Run none of the fusion passes");
  command->add_flag("-v,--verbose", options->verbose, "Say what each pass did, and timings");
  command->callback([=] {
    std::set<std::string> disabled;
    if (options->noFusion)
      for (const passes::Pass& pass : passes::pipeline())
        if (pass.isFusion) disabled.insert(pass.name);
    std::vector<std::string> passNames;
    for (const passes::Pass& pass : passes::pipeline()) passNames.push_back(pass.name);
    for (const std::string& name : options->disabled) {
      if (std::find(passNames.begin(), passNames.end(), name) == passNames.end())
        fail("--disable-pass: there is no pass called '{}' (the passes: {})", name,
             fmt::join(passNames, ", "));
      disabled.insert(name);
    }
    if (options->training && disabled.count("autodiff"))
      fail("--disable-pass autodiff: the training step (--training) is built from its gradients");
    // Compiling again starts from the model file, whose passes and options are the user's.
    LoadedModel loaded = loadAnalyzedModel(options->path, CompiledGraphUse::Refuse);
    int64_t batch = options->batch.value_or(modelBatchSize(loaded.model));
    if (!options->output.empty()) {
      if (!options->emit.empty()) fail("give either -o to compile or --emit to print a stage");
      CompiledModel::Options compileOptions{batch, options->training, disabled};
      compileOptions.verbose = options->verbose;
      compileOptions.printAfterAll = options->printAfterAll;
      compileOptions.log = &std::cerr;
      auto compiled =
          CompiledModel::compile(std::move(loaded.model), options->path, compileOptions);
      compiled->save(options->output);
      const codegen::MemoryPlan& plan = compiled->memoryPlan();
      fmt::print(stderr,
                 "compiled {} ({}, batch {}) in {:.0f} ms: {} ops, arena {:.1f} MiB -> {}\n",
                 options->path, options->training ? "training step" : "inference", batch,
                 1000 * compiled->compileSeconds(), compiled->graph().ops().size(),
                 plan.arenaBytes / 1048576.0, options->output);
      return;
    }

    ir::Graph graph = lowerModel(loaded.model, loaded.analysis, {batch, options->training});
    if (options->emit == "ir-lowered") {
      fmt::print("{}", ir::printGraph(graph));
      return;
    }
    passes::PassOptions passOptions;
    passOptions.training = options->training;
    if (loaded.model.training && loaded.model.training->optimizer)
      passOptions.optimizer = *loaded.model.training->optimizer;
    passOptions.disabled = disabled;
    passOptions.printAfterAll = options->printAfterAll;
    passOptions.verbose = options->verbose;
    passOptions.log = &std::cerr;
    passes::runPipeline(graph, passOptions);
    if (options->emit.empty() || options->emit == "ir") {
      fmt::print("{}", ir::printGraph(graph));
      return;
    }
    auto code = codegen::CompiledGraph::compile(graph, {.reuseMemory = true, .keepText = true});
    if (options->verbose)
      fmt::print(stderr, "codegen: {:.0f} ms, arena {:.1f} MiB\n", 1000 * code->compileSeconds(),
                 code->memoryPlan().arenaBytes / 1048576.0);
    fmt::print("{}", options->emit == "llvm" ? code->llvmIr() : code->assembly());
  });
}

void addConvertCommand(CLI::App& app) {
  auto* command = app.add_subcommand(
      "convert", "Convert a model between the binary form and the JSON text form");
  auto input = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  command->add_option("model", *input, "Model file to read (either form, or a compiled graph)")
      ->required();
  command
      ->add_option("-o,--output", *output,
                   "File to write: .json for the JSON form (no weights), .fbs for the binary one")
      ->required();
  command->callback([=] {
    modelFormOf(*output);
    LoadedModel loaded = loadAnalyzedModel(*input);
    saveModel(loaded.model, *output);
  });
}

}  // namespace dlc::tools
