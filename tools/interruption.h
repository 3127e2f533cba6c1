// What `dlc` does on SIGINT or SIGTERM (dlc serve installs its own handlers and stops cleanly).
#pragma once

#include <string>

namespace dlc::tools {

/// From now on SIGINT and SIGTERM remove the temporary file of a write in progress, so that no
/// half-written file is left, print one line on stderr and end the process with status 130.
void handleInterruptions();

/// What that line says from now on: `ifFileExists` if `file` exists then (say, where the last
/// checkpoint is), else `otherwise`.
void describeInterruption(std::string file, std::string ifFileExists, std::string otherwise);

}  // namespace dlc::tools
