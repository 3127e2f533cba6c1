// Named constant parameters of an op (axes, shapes, factors), printed in a stable order.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace dlc::ir {

using Attribute = std::variant<int64_t, double, std::vector<int64_t>>;

class Attributes {
 public:
  Attributes() = default;
  Attributes(std::initializer_list<std::pair<const std::string, Attribute>> entries)
      : entries_(entries) {}

  void set(const std::string& key, Attribute value) { entries_[key] = std::move(value); }
  bool has(const std::string& key) const { return entries_.count(key) != 0; }

  /// Typed reads; a missing or mistyped attribute is an internal error (asserts).
  int64_t getInt(const std::string& key) const;
  double getFloat(const std::string& key) const;
  const std::vector<int64_t>& getInts(const std::string& key) const;
  int64_t getInt(const std::string& key, int64_t fallback) const;

  const std::map<std::string, Attribute>& entries() const { return entries_; }
  bool operator==(const Attributes&) const = default;

 private:
  std::map<std::string, Attribute> entries_;
};

/// `{axis=1, factor=0.5, shape=[64, 20]}`, or "" when there are none.
std::string formatAttributes(const Attributes& attributes);

}  // namespace dlc::ir
