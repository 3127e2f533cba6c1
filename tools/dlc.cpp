// `dlc`: the command line of the dlc compiler and runtime.
#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <system_error>

#include "support/error.h"
#include "support/memory_limit.h"
#include "tools/commands.h"
#include "tools/interruption.h"

namespace {

/// Prints `message` as dlc's one error line (newlines in it become "; ") and returns status 1.
int reportError(std::string message) {
  for (size_t at = message.find('\n'); at != std::string::npos; at = message.find('\n', at))
    message.replace(at, 1, "; ");
  fmt::print(stderr, "dlc: error: {}\n", message);
  return 1;
}

/// Results go to standard output: a command whose results could not all be written failed.
int checkStandardOutput() {
  errno = 0;
  std::cout.flush();  // flushes stdout too (std::cout is synchronized with it)
  bool flushed = std::fflush(stdout) == 0;
  if (flushed && !std::ferror(stdout) && std::cout.good()) return 0;
  return reportError(fmt::format("standard output: cannot write: {}",
                                 errno != 0 ? std::strerror(errno) : "write error"));
}

/// "dlc train" for `dlc train ...`: the command whose options the user got wrong.
std::string commandGiven(const CLI::App& app) {
  std::string command = app.get_name();
  for (const CLI::App* current = &app; !current->get_subcommands().empty();) {
    current = current->get_subcommands().front();
    command += " " + current->get_name();
  }
  return command;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("dlc: a deep-learning graph compiler and runtime for CPUs", "dlc");
  app.require_subcommand(1);
  app.set_version_flag("--version", "dlc 0.1.0");
  app.add_option_function<std::string>(
      "--memory-limit",
      [](const std::string& text) {
        std::optional<int64_t> bytes = dlc::parseByteSize(text);
        if (!bytes || *bytes <= 0)
          throw CLI::ValidationError("--memory-limit", "expected a size such as 8G or 512M");
        dlc::setMemoryLimit(*bytes);
      },
      "Refuse models whose sizes need more memory than this, e.g. 8G (default: "
      "DLC_MEMORY_LIMIT, else the physical memory)");
  dlc::tools::addSummaryCommand(app);
  dlc::tools::addCompileCommand(app);
  dlc::tools::addConvertCommand(app);
  dlc::tools::addWeightsCommand(app);
  dlc::tools::addRunCommand(app);
  dlc::tools::addTrainCommand(app);
  dlc::tools::addEvaluateCommand(app);
  dlc::tools::addPredictCommand(app);
  dlc::tools::addServeCommand(app);
  dlc::tools::handleInterruptions();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version are "errors" of status 0 to CLI11: they print and succeed.
    if (error.get_exit_code() == 0) return app.exit(error) == 0 ? checkStandardOutput() : 1;
    return reportError(fmt::format("{} (see {} --help)", error.what(), commandGiven(app)));
  } catch (const dlc::Error& error) {
    return reportError(error.what());
  } catch (const std::bad_alloc&) {
    return reportError("out of memory");
  } catch (const std::system_error& error) {
    // fmt::print's failure to print on stdout, or a std::filesystem error.
    if (std::ferror(stdout))
      return reportError(fmt::format("standard output: cannot write: {}", error.code().message()));
    return reportError(error.what());
  } catch (const std::exception& error) {
    // A broken invariant, not bad input; still one line and status 1 rather than a crash.
    return reportError(fmt::format("internal error: {}", error.what()));
  }
  return checkStandardOutput();
}
