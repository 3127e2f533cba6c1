#include "support/file_io.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include "support/error.h"
#include "support/memory_limit.h"

namespace dlc {

namespace {

/// Closes a file descriptor when it goes out of scope.
struct DescriptorCloser {
  int fd;
  ~DescriptorCloser() { ::close(fd); }
};

/// What a file that is not a regular one is, for the error that refuses it.
const char* fileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

/// The file an atomic write replaces.
struct WriteTarget {
  std::filesystem::path path;         // the path given, with its symbolic links followed
  std::optional<mode_t> permissions;  // of the regular file there now, if there is one
};

WriteTarget findWriteTarget(const std::string& path) {
  constexpr int kMaxLinks = 40;  // the kernel's limit too (ELOOP)
  WriteTarget target{path, std::nullopt};
  for (int links = 0;; ++links) {
    struct stat status;
    if (::lstat(target.path.c_str(), &status) != 0) {
      if (errno == ENOENT) return target;  // a new file, perhaps named by a dangling link
      fail("{}: cannot write: {}", path, std::strerror(errno));
    }
    if (S_ISREG(status.st_mode)) {
      target.permissions = status.st_mode & 07777;
      return target;
    }
    if (!S_ISLNK(status.st_mode)) {
      std::string what = target.path == path ? "it" : target.path.string();
      fail("{}: cannot write: {} is {}, not a regular file", path, what, fileKind(status.st_mode));
    }
    if (links == kMaxLinks) fail("{}: cannot write: too many levels of symbolic links", path);
    std::error_code error;
    std::filesystem::path link = std::filesystem::read_symlink(target.path, error);
    if (error) fail("{}: cannot write: {}", path, error.message());
    target.path = target.path.parent_path() / link;  // an absolute link replaces the whole path
  }
}

std::string temporaryName(const std::filesystem::path& target) {
  return fmt::format("{}.tmp-{}", target.string(), getpid());
}

/// Removes the `TARGET.tmp-<pid>` files of writers that ended without finishing (killed).
void removeStaleTemporaries(const std::filesystem::path& target) {
  std::filesystem::path directory = target.parent_path();
  std::string prefix = target.filename().string() + ".tmp-";
  std::error_code error;
  std::filesystem::directory_iterator entry(directory.empty() ? "." : directory, error), end;
  for (; !error && entry != end; entry.increment(error)) {
    std::string name = entry->path().filename().string();
    if (!name.starts_with(prefix)) continue;
    const char* digits = name.c_str() + prefix.size();
    const char* digitsEnd = name.c_str() + name.size();
    pid_t writer = 0;
    auto [parsedEnd, parseError] = std::from_chars(digits, digitsEnd, writer);
    if (parseError != std::errc() || parsedEnd != digitsEnd || writer <= 0) continue;
    if (writer == getpid() || ::kill(writer, 0) == 0 || errno != ESRCH) continue;
    ::unlink(entry->path().c_str());
  }
}

/// The temporary file of the write in progress, for removeTemporaryFileOfWriteInProgress():
/// static storage, filled before the file is created, so that a signal handler may read it.
char temporaryInProgress[PATH_MAX + 32];
std::atomic<bool> temporarySlotClaimed = false;  // by the thread writing
std::atomic<bool> temporarySlotFilled = false;   // temporaryInProgress names a file to remove
static_assert(std::atomic<bool>::is_always_lock_free);

/// Names a temporary file in the slot while it exists, if no other write holds the slot.
class TrackedTemporary {
 public:
  explicit TrackedTemporary(const std::string& name) {
    holdsSlot_ = name.size() < sizeof temporaryInProgress && !temporarySlotClaimed.exchange(true);
    if (!holdsSlot_) return;
    std::memcpy(temporaryInProgress, name.c_str(), name.size() + 1);
    temporarySlotFilled = true;
  }
  ~TrackedTemporary() {
    if (!holdsSlot_) return;
    temporarySlotFilled = false;
    temporarySlotClaimed = false;
  }
  TrackedTemporary(const TrackedTemporary&) = delete;
  TrackedTemporary& operator=(const TrackedTemporary&) = delete;

 private:
  bool holdsSlot_ = false;
};

int createTemporary(const std::string& path, const std::string& temporary) {
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot write: {}", path, std::strerror(errno));
  return fd;
}

/// Fails with errno's message after removing the temporary file (and closing it, if `fd` >= 0).
[[noreturn]] void abandonTemporary(const std::string& path, const std::string& temporary, int fd,
                                   const char* action) {
  int saved = errno == 0 ? EIO : errno;
  if (fd >= 0) ::close(fd);
  ::unlink(temporary.c_str());
  fail("{}: cannot {}: {}", path, action, std::strerror(saved));
}

}  // namespace

std::vector<std::byte> readFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  DescriptorCloser closer{fd};
  struct stat status;
  if (::fstat(fd, &status) != 0) fail("{}: cannot read: {}", path, std::strerror(errno));
  if (S_ISDIR(status.st_mode)) fail("{}: cannot read: it is a directory, not a file", path);

  // A regular file takes one read; a FIFO or a device grows the buffer until it ends.
  size_t capacity = S_ISREG(status.st_mode) ? static_cast<size_t>(status.st_size) + 1 : 1 << 16;
  std::vector<std::byte> contents(capacity);
  size_t filled = 0;
  for (;;) {
    if (filled == contents.size()) {
      // A device or a FIFO may never end: stop at the memory limit.
      int64_t limit = memoryLimit();
      if (static_cast<int64_t>(filled) > limit)
        fail("{}: cannot read: it is larger than the memory limit of {} (dlc --memory-limit)", path,
             formatBytes(limit));
      contents.resize(std::min<size_t>(2 * contents.size(), static_cast<size_t>(limit) + 1));
    }
    ssize_t count = ::read(fd, contents.data() + filled, contents.size() - filled);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) fail("{}: cannot read: {}", path, std::strerror(errno));
    if (count == 0) break;
    filled += static_cast<size_t>(count);
  }
  contents.resize(filled);
  return contents;
}

void writeFileAtomically(const std::string& path, std::span<const std::byte> contents) {
  WriteTarget target = findWriteTarget(path);
  removeStaleTemporaries(target.path);
  std::string temporary = temporaryName(target.path);
  TrackedTemporary tracked(temporary);
  int fd = createTemporary(path, temporary);
  if (target.permissions && ::fchmod(fd, *target.permissions) != 0)
    abandonTemporary(path, temporary, fd, "write");

  const std::byte* cursor = contents.data();
  size_t remaining = contents.size();
  while (remaining > 0) {
    errno = 0;
    ssize_t written = ::write(fd, cursor, remaining);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) abandonTemporary(path, temporary, fd, "write");
    cursor += written;
    remaining -= static_cast<size_t>(written);
  }

  if (::fsync(fd) != 0) abandonTemporary(path, temporary, fd, "write");
  if (::close(fd) != 0) abandonTemporary(path, temporary, -1, "write");
  if (std::rename(temporary.c_str(), target.path.c_str()) != 0)
    abandonTemporary(path, temporary, -1, "replace");

  // The rename itself is durable only once the directory is flushed too. A failure here leaves
  // a whole file in place, so it is not an error.
  std::filesystem::path directory = target.path.parent_path();
  int directoryFd = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY);
  if (directoryFd >= 0) {
    ::fsync(directoryFd);
    ::close(directoryFd);
  }
}

void writeFileAtomically(const std::string& path, const std::string& contents) {
  writeFileAtomically(path, std::as_bytes(std::span(contents.data(), contents.size())));
}

void checkWritable(const std::string& path) {
  WriteTarget target = findWriteTarget(path);
  std::string temporary = temporaryName(target.path);
  TrackedTemporary tracked(temporary);
  ::close(createTemporary(path, temporary));
  ::unlink(temporary.c_str());
}

void removeTemporaryFileOfWriteInProgress() {
  if (temporarySlotFilled) ::unlink(temporaryInProgress);
}

}  // namespace dlc
