#include "tests/test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>

namespace dlc::testing {

std::string sourcePath(const std::string& relative) {
  return std::string(DLC_SOURCE_DIR) + "/" + relative;
}

TemporaryDirectory::TemporaryDirectory() {
  std::random_device device;
  root_ = std::filesystem::temp_directory_path() /
          fmt::format("dlc-test-{}-{:x}", getpid(), device());
  std::filesystem::create_directories(root_);
}

TemporaryDirectory::~TemporaryDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(root_, ignored);
}

void writeText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string readText(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  std::stringstream buffer;
  buffer << stream.rdbuf();
  return buffer.str();
}

int runDlc(const std::string& arguments, std::string* output, std::string* errors) {
  TemporaryDirectory directory;
  std::string command = fmt::format("{} {} > {} 2> {}", DLC_BINARY, arguments,
                                    directory.path("out"), directory.path("err"));
  int status = std::system(command.c_str());
  if (output) *output = readText(directory.path("out"));
  if (errors) *errors = readText(directory.path("err"));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

ParsedModel parseModelJson(const std::string& json, const std::string& source) {
  ParsedModel parsed;
  parsed.model = parseModel(std::as_bytes(std::span(json.data(), json.size())), source);
  parsed.analysis = analyzeModel(parsed.model, source);
  return parsed;
}

}  // namespace dlc::testing
