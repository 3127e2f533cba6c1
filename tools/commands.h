// The subcommands of `dlc`, one registration function each.
#pragma once

#include <CLI/CLI.hpp>

#include "frontend/layers.h"
#include "frontend/model_io.h"

namespace dlc::tools {

void addSummaryCommand(CLI::App& app);
void addCompileCommand(CLI::App& app);
void addConvertCommand(CLI::App& app);
void addWeightsCommand(CLI::App& app);
void addRunCommand(CLI::App& app);
void addTrainCommand(CLI::App& app);
void addEvaluateCommand(CLI::App& app);
void addPredictCommand(CLI::App& app);
void addServeCommand(CLI::App& app);

/// Option checks whose messages CLI11's own would spoil: CLI::PositiveNumber prints the largest
/// double in full (and lets NaN through), and an unsigned option takes "-1" as 2^64 - 1.
extern const CLI::Validator kPositiveFiniteNumber;
extern const CLI::Validator kSeedNumber;  // a whole number from 0 to 2^64 - 1

/// A model file, or the model a compiled graph (dlc compile -o) holds, read and validated.
struct LoadedModel {
  std::string path;
  schema::ModelT model;
  ModelAnalysis analysis;
};
/// What a compiled graph is taken for when one is given where a model is expected.
enum class CompiledGraphUse { AsItsModel, Refuse };
LoadedModel loadAnalyzedModel(const std::string& path,
                              CompiledGraphUse compiledGraph = CompiledGraphUse::AsItsModel);

}  // namespace dlc::tools
