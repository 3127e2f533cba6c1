// `dlc`: the command line of the dlc compiler and runtime.
#include <fmt/format.h>

#include <cstdio>

#include "support/error.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app("dlc: a deep-learning graph compiler and runtime for CPUs", "dlc");
  app.require_subcommand(1);
  app.set_version_flag("--version", "dlc 0.1.0");
  dlc::tools::addSummaryCommand(app);
  dlc::tools::addCompileCommand(app);
  dlc::tools::addConvertCommand(app);
  dlc::tools::addWeightsCommand(app);
  dlc::tools::addRunCommand(app);
  dlc::tools::addTrainCommand(app);
  dlc::tools::addEvaluateCommand(app);
  dlc::tools::addPredictCommand(app);
  dlc::tools::addServeCommand(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  } catch (const dlc::Error& error) {
    fmt::print(stderr, "dlc: error: {}\n", error.what());
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "dlc: error: out of memory\n");
    return 1;
  }
  return 0;
}
