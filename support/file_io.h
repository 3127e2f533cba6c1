// Reading and writing whole files, atomically on the write side.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace dlc {

/// The whole file (or, from a FIFO or a device, everything up to its end); an Error naming the
/// path if it cannot be read, for instance because it is a directory.
std::vector<std::byte> readFile(const std::string& path);

/// Writes to `TARGET.tmp-<pid>`, flushes it to disk, then renames it over TARGET (and flushes
/// the directory), so that a reader (or a crash) sees either the old file or the new one, never
/// half of it. TARGET is `path`, or what it names if it is a symbolic link: the link stays. An
/// existing TARGET that is not a regular file (a directory, a device, a FIFO) is refused, never
/// replaced; a new file keeps the permissions of the one it replaces. A process killed while
/// writing leaves its temporary file behind: the next write to TARGET removes it once its writer
/// has ended (a writer in another PID namespace looks ended).
void writeFileAtomically(const std::string& path, std::span<const std::byte> contents);
void writeFileAtomically(const std::string& path, const std::string& contents);

/// Checks now, with the Error writeFileAtomically would give, that it could write `path`: its
/// target is (or can become) a regular file, and its directory takes new files.
void checkWritable(const std::string& path);

/// Removes the temporary file of the atomic write in progress, if there is one. Only
/// async-signal-safe calls: for a SIGINT or SIGTERM handler that then ends the process. (One
/// write at a time is tracked; a write from a second thread meanwhile is not.)
void removeTemporaryFileOfWriteInProgress();

}  // namespace dlc
