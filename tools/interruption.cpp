#include "tools/interruption.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "support/file_io.h"

namespace dlc::tools {

namespace {

/// The line printed on an interruption, as describeInterruption() gave it. The handler only reads
/// it, and prints nothing if it comes while the line is being replaced (`describing`).
struct Description {
  std::string file, ifFileExists, otherwise = "dlc: interrupted\n";
};
Description description;
std::atomic<bool> describing = false;
static_assert(std::atomic<bool>::is_always_lock_free);

void onInterruption(int) {
  removeTemporaryFileOfWriteInProgress();
  if (!describing) {
    struct stat status;
    bool exists = !description.file.empty() && ::stat(description.file.c_str(), &status) == 0;
    const std::string& line = exists ? description.ifFileExists : description.otherwise;
    [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  }
  ::_exit(130);
}

}  // namespace

void handleInterruptions() {
  struct sigaction action = {};
  action.sa_handler = onInterruption;
  sigemptyset(&action.sa_mask);
  sigaddset(&action.sa_mask, SIGINT);
  sigaddset(&action.sa_mask, SIGTERM);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

void describeInterruption(std::string file, std::string ifFileExists, std::string otherwise) {
  describing = true;
  description = {std::move(file), std::move(ifFileExists) + "\n", std::move(otherwise) + "\n"};
  describing = false;
}

}  // namespace dlc::tools
