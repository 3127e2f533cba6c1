#include "frontend/json_diagnostics.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>
#include <regex>
#include <vector>

namespace dlc {

namespace {

/// An object or array open at the error, with what the scan saw in it.
struct Frame {
  bool isObject = false;
  std::string key;   // objects: the last key read
  std::string name;  // objects: the value of their "name" key, if read
  int index = 0;     // arrays: the element being read
};

/// Scans the text up to (line, column), tracking the open objects and arrays. Tolerant: keys may
/// be quoted or not, as FlatBuffers' JSON allows.
std::vector<Frame> framesAt(const std::string& text, int line, int column) {
  std::vector<Frame> frames;
  bool expectKey = false;
  int currentLine = 1, currentColumn = 0;
  auto reached = [&] {
    return currentLine > line || (currentLine == line && currentColumn >= column);
  };
  auto word = [&](const std::string& token) {
    if (frames.empty() || !frames.back().isObject) return;
    if (expectKey) {
      frames.back().key = token;
      expectKey = false;
    } else if (frames.back().key == "name") {
      frames.back().name = token;
    }
  };

  for (size_t at = 0; at < text.size() && !reached(); ++at, ++currentColumn) {
    char c = text[at];
    if (c == '\n') {
      ++currentLine;
      currentColumn = -1;
    } else if (c == '"') {
      std::string token;
      for (++at, ++currentColumn; at < text.size() && text[at] != '"'; ++at, ++currentColumn) {
        if (text[at] == '\\' && at + 1 < text.size()) ++at, ++currentColumn;
        token += text[at];
      }
      word(token);
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::string token;
      while (at < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[at])) || text[at] == '_')) {
        token += text[at++];
        ++currentColumn;
      }
      --at, --currentColumn;
      word(token);
    } else if (c == '{' || c == '[') {
      frames.push_back({c == '{', {}, {}, 0});
      expectKey = c == '{';
    } else if ((c == '}' || c == ']') && !frames.empty()) {
      frames.pop_back();
      expectKey = false;
    } else if (c == ',' && !frames.empty()) {
      if (frames.back().isObject)
        expectKey = true;
      else
        ++frames.back().index;
    }
  }
  return frames;
}

/// What a value of `type` looks like, for "expected ..." messages.
std::string expectedValue(const flatbuffers::Type& type) {
  if (type.enum_def && flatbuffers::IsInteger(type.base_type)) {
    std::string names;
    for (const flatbuffers::EnumVal* value : type.enum_def->Vals())
      names += (names.empty() ? "" : ", ") + value->name;
    return "one of " + names;
  }
  if (flatbuffers::IsBool(type.base_type)) return "true or false";
  if (flatbuffers::IsInteger(type.base_type)) return "an integer";
  if (flatbuffers::IsFloat(type.base_type)) return "a number";
  switch (type.base_type) {
    case flatbuffers::BASE_TYPE_STRING: return "a string";
    case flatbuffers::BASE_TYPE_VECTOR: {
      flatbuffers::Type element = type.VectorType();
      if (element.base_type == flatbuffers::BASE_TYPE_STRUCT)
        return "a list of objects (" + element.struct_def->name + ")";
      if (element.enum_def && flatbuffers::IsInteger(element.base_type))
        return "a list of names (" + expectedValue(element) + ")";
      if (flatbuffers::IsBool(element.base_type)) return "a list of true or false";
      if (flatbuffers::IsInteger(element.base_type)) return "a list of integers";
      if (flatbuffers::IsFloat(element.base_type)) return "a list of numbers";
      return "a list of strings";
    }
    case flatbuffers::BASE_TYPE_STRUCT: return "an object (" + type.struct_def->name + ")";
    default: return "a value";
  }
}

std::string fieldNames(const flatbuffers::StructDef& table) {
  std::string names;
  for (const flatbuffers::FieldDef* field : table.fields.vec)
    names += (names.empty() ? "" : ", ") + field->name;
  return names;
}

}  // namespace

std::string describeJsonError(const flatbuffers::Parser& schema, const std::string& text) {
  std::string error = schema.error_.substr(0, schema.error_.find('\n'));
  std::smatch match;
  static const std::regex kPosition(R"((\d+):\s*(\d+):\s*error:\s*(.*))");
  if (!std::regex_search(error, match, kPosition)) return error;
  int line = std::stoi(match[1]);
  std::string message = match[3];
  std::vector<Frame> frames = framesAt(text, line, std::stoi(match[2]));

  // Follow the keys from the root table through the schema, noting the layer on the way.
  std::string where = fmt::format("line {}", line);
  std::vector<std::string> keys;  // from the layer (or the root) down
  const flatbuffers::StructDef* table = schema.root_struct_def_;
  const flatbuffers::FieldDef* field = nullptr;
  for (size_t depth = 0; depth < frames.size() && table; ++depth) {
    const Frame& frame = frames[depth];
    if (!frame.isObject) continue;  // a list element: its table is `table` already
    if (table->name == "Layer") {
      keys.clear();
      int index = depth > 0 ? frames[depth - 1].index : 0;
      where += frame.name.empty() ? fmt::format(", layer #{}", index + 1)
                                  : fmt::format(", layer '{}'", frame.name);
    }
    if (frame.key.empty()) break;
    keys.push_back(frame.key);
    field = table->fields.Lookup(frame.key);
    if (!field)
      return fmt::format("{}: {} ({} has {})", where, message, table->name, fieldNames(*table));
    const flatbuffers::Type& type = field->value.type;
    bool holdsTables = type.base_type == flatbuffers::BASE_TYPE_STRUCT ||
                       (type.base_type == flatbuffers::BASE_TYPE_VECTOR &&
                        type.element == flatbuffers::BASE_TYPE_STRUCT);
    table = holdsTables ? type.struct_def : nullptr;
  }
  if (!field) return fmt::format("{}: {}", where, message);
  // The parser checks some scalars only at the end of their table: then it points at the table.
  if (field->value.type.base_type == flatbuffers::BASE_TYPE_STRUCT)
    return fmt::format("{}, in {}: {}", where, fmt::join(keys, "."), message);
  return fmt::format("{}, field {}: {} (expected {})", where, fmt::join(keys, "."), message,
                     expectedValue(field->value.type));
}

}  // namespace dlc
