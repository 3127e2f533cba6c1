#include "ir/attributes.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cassert>
#include <cmath>

namespace dlc::ir {

int64_t Attributes::getInt(const std::string& key) const {
  auto found = entries_.find(key);
  assert(found != entries_.end() && std::holds_alternative<int64_t>(found->second));
  return std::get<int64_t>(found->second);
}

int64_t Attributes::getInt(const std::string& key, int64_t fallback) const {
  return has(key) ? getInt(key) : fallback;
}

double Attributes::getFloat(const std::string& key) const {
  auto found = entries_.find(key);
  assert(found != entries_.end() && std::holds_alternative<double>(found->second));
  return std::get<double>(found->second);
}

const std::vector<int64_t>& Attributes::getInts(const std::string& key) const {
  auto found = entries_.find(key);
  assert(found != entries_.end() && std::holds_alternative<std::vector<int64_t>>(found->second));
  return std::get<std::vector<int64_t>>(found->second);
}

static std::string formatAttribute(const Attribute& attribute) {
  if (auto* integer = std::get_if<int64_t>(&attribute)) return fmt::format("{}", *integer);
  if (auto* list = std::get_if<std::vector<int64_t>>(&attribute))
    return fmt::format("[{}]", fmt::join(*list, ", "));
  // Floats always show a point or an exponent, so that they read differently from integers.
  double real = std::get<double>(attribute);
  std::string text = fmt::format("{}", real);
  if (std::isfinite(real) && text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

std::string formatAttributes(const Attributes& attributes) {
  if (attributes.entries().empty()) return "";
  std::vector<std::string> parts;
  for (const auto& [key, value] : attributes.entries())
    parts.push_back(fmt::format("{}={}", key, formatAttribute(value)));
  return fmt::format("{{{}}}", fmt::join(parts, ", "));
}

}  // namespace dlc::ir
