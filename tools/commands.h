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

/// A model file, read and validated.
struct LoadedModel {
  std::string path;
  schema::ModelT model;
  ModelAnalysis analysis;
};
LoadedModel loadAnalyzedModel(const std::string& path);

}  // namespace dlc::tools
