// Reading and writing whole files, atomically on the write side.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace dlc {

/// The whole file; an Error naming the path if it cannot be read.
std::vector<std::byte> readFile(const std::string& path);

/// Writes to `path.tmp-<pid>`, flushes it to disk, then renames it over `path` (and flushes the
/// directory), so that a reader (or a crash) sees either the old file or the new one, never half
/// of it. A process killed while writing leaves its `path.tmp-<pid>` behind; nothing reads it.
void writeFileAtomically(const std::string& path, std::span<const std::byte> contents);
void writeFileAtomically(const std::string& path, const std::string& contents);

}  // namespace dlc
