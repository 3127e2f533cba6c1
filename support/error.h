// Errors that reach a user: one line saying which file, which layer, and what was expected.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace dlc {

/// An error caused by input the user gave us. The `dlc` command prints its message on one line
/// and exits with status 1. Broken internal invariants are asserts, not `Error`s.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace dlc
