// Reading and atomic writing of whole files: through symbolic links, never over something that is
// not a regular file, and without leaving temporary files of ended writers behind. Every special
// file here is made in a temporary directory.
#include "support/file_io.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "support/error.h"
#include "support/memory_limit.h"
#include "tests/test_support.h"

namespace dlc {
namespace {

using testing::TemporaryDirectory;

/// The Error message `action` throws, or "" if it throws none.
template <typename Action>
std::string errorOf(Action action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

std::string textOf(const std::vector<std::byte>& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

/// The pid of a process that has ended (and been reaped).
pid_t endedProcess() {
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

TEST(AtomicWrites, GoThroughSymbolicLinksToTheirTarget) {
  TemporaryDirectory directory;
  std::string target = directory.path("target.fbs");
  testing::writeText(target, "old");
  std::filesystem::create_directory(directory.path("links"));
  std::string link = directory.path("links/link.fbs");
  std::string linkToLink = directory.path("link2.fbs");
  std::filesystem::create_symlink("../target.fbs", link);  // relative to the link's directory
  std::filesystem::create_symlink(link, linkToLink);

  writeFileAtomically(linkToLink, std::string("new"));
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_TRUE(std::filesystem::is_symlink(linkToLink));
  EXPECT_EQ(testing::readText(target), "new");

  // A dangling link gets its target made.
  std::string dangling = directory.path("dangling.fbs");
  std::filesystem::create_symlink("made.fbs", dangling);
  writeFileAtomically(dangling, std::string("made"));
  EXPECT_TRUE(std::filesystem::is_symlink(dangling));
  EXPECT_EQ(testing::readText(directory.path("made.fbs")), "made");
}

TEST(AtomicWrites, RefuseWhatIsNotARegularFileAndLeaveItAsItWas) {
  TemporaryDirectory directory;
  std::string fifo = directory.path("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  std::string linkToFifo = directory.path("link");
  std::filesystem::create_symlink(fifo, linkToFifo);
  std::string subdirectory = directory.path("subdirectory");
  std::filesystem::create_directory(subdirectory);

  EXPECT_EQ(errorOf([&] { writeFileAtomically(fifo, std::string("x")); }),
            fifo + ": cannot write: it is a FIFO, not a regular file");
  EXPECT_EQ(errorOf([&] { writeFileAtomically(linkToFifo, std::string("x")); }),
            linkToFifo + ": cannot write: " + fifo + " is a FIFO, not a regular file");
  EXPECT_EQ(errorOf([&] { writeFileAtomically(subdirectory, std::string("x")); }),
            subdirectory + ": cannot write: it is a directory, not a regular file");
  EXPECT_TRUE(std::filesystem::is_fifo(fifo));
  EXPECT_TRUE(std::filesystem::is_symlink(linkToFifo));
  EXPECT_TRUE(std::filesystem::is_directory(subdirectory));

  // checkWritable() finds the same, and a missing directory, before anything is computed.
  EXPECT_NE(errorOf([&] { checkWritable(linkToFifo); }).find("is a FIFO"), std::string::npos);
  EXPECT_NE(errorOf([&] {
              checkWritable(directory.path("missing/file"));
            }).find("missing/file: cannot write: No such file or directory"),
            std::string::npos);
  EXPECT_EQ(errorOf([&] { checkWritable(directory.path("new.fbs")); }), "");
  EXPECT_FALSE(std::filesystem::exists(directory.path("new.fbs")));
}

TEST(AtomicWrites, KeepThePermissionsOfTheFileTheyReplace) {
  TemporaryDirectory directory;
  std::string path = directory.path("private.fbs");
  testing::writeText(path, "old");
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  writeFileAtomically(path, std::string("new"));
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(AtomicWrites, RemoveTheTemporaryFilesOfEndedWritersOnly) {
  TemporaryDirectory directory;
  std::string path = directory.path("model.fbs");
  std::string stale = fmt::format("{}.tmp-{}", path, endedProcess());
  std::string ofALiveProcess = fmt::format("{}.tmp-{}", path, getppid());
  std::string ofAnotherFile = fmt::format("{}.tmp-{}", directory.path("other.fbs"), endedProcess());
  for (const std::string& name : {stale, ofALiveProcess, ofAnotherFile})
    testing::writeText(name, "half");

  writeFileAtomically(path, std::string("whole"));
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(ofALiveProcess));
  EXPECT_TRUE(std::filesystem::exists(ofAnotherFile));
  EXPECT_EQ(testing::readText(path), "whole");
}

TEST(ReadingFiles, ADirectoryIsRefusedNamingIt) {
  TemporaryDirectory directory;
  EXPECT_EQ(errorOf([&] { readFile(directory.path("")); }),
            directory.path("") + ": cannot read: it is a directory, not a file");
}

TEST(ReadingFiles, AFileWithoutEndStopsAtTheMemoryLimit) {
  int64_t previous = memoryLimit();
  setMemoryLimit(int64_t{1} << 20);
  EXPECT_EQ(errorOf([] { readFile("/dev/zero"); }),
            "/dev/zero: cannot read: it is larger than the memory limit of 1.0 MiB (dlc "
            "--memory-limit)");
  setMemoryLimit(previous);
}

TEST(ReadingFiles, AFifoIsReadToItsEnd) {
  TemporaryDirectory directory;
  std::string fifo = directory.path("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  std::string text(200000, 'x');  // more than a pipe holds at once
  std::thread writer([&] { std::ofstream(fifo, std::ios::binary) << text; });
  std::vector<std::byte> contents = readFile(fifo);
  writer.join();
  EXPECT_EQ(textOf(contents), text);
}

}  // namespace
}  // namespace dlc
