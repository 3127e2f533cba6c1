#include "support/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "support/error.h"

namespace dlc {

std::vector<std::byte> readFile(const std::string& path) {
  // A directory opens as a stream whose end is at 2^63 - 1: refuse it before allocating.
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) fail("{}: is a directory, not a file", path);
  std::ifstream stream(path, std::ios::binary | std::ios::ate);
  if (!stream) fail("{}: cannot open: {}", path, std::strerror(errno));
  std::streamsize size = stream.tellg();
  if (size < 0) fail("{}: cannot read (is it a directory?)", path);
  std::vector<std::byte> contents(static_cast<size_t>(size));
  stream.seekg(0);
  if (!stream.read(reinterpret_cast<char*>(contents.data()), size))
    fail("{}: cannot read: {}", path, std::strerror(errno));
  return contents;
}

void writeFileAtomically(const std::string& path, std::span<const std::byte> contents) {
  std::string temporary = fmt::format("{}.tmp-{}", path, getpid());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot write: {}", path, std::strerror(errno));

  const std::byte* cursor = contents.data();
  size_t remaining = contents.size();
  while (remaining > 0) {
    ssize_t written = ::write(fd, cursor, remaining);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      int saved = errno;
      ::close(fd);
      ::unlink(temporary.c_str());
      fail("{}: cannot write: {}", path, std::strerror(saved));
    }
    cursor += written;
    remaining -= static_cast<size_t>(written);
  }

  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int saved = errno;
    ::unlink(temporary.c_str());
    fail("{}: cannot write: {}", path, std::strerror(saved));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(temporary.c_str());
    fail("{}: cannot replace: {}", path, std::strerror(saved));
  }

  // The rename itself is durable only once the directory is flushed too. A failure here leaves
  // a whole file in place, so it is not an error.
  std::filesystem::path directory = std::filesystem::path(path).parent_path();
  int directoryFd = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY);
  if (directoryFd >= 0) {
    ::fsync(directoryFd);
    ::close(directoryFd);
  }
}

void writeFileAtomically(const std::string& path, const std::string& contents) {
  writeFileAtomically(path, std::as_bytes(std::span(contents.data(), contents.size())));
}

}  // namespace dlc
