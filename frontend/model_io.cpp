#include "frontend/model_io.h"

#include <flatbuffers/idl.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <memory>

#include "frontend/json_diagnostics.h"
#include "schema/dlc_model_schema_text.h"
#include "support/error.h"
#include "support/file_io.h"

namespace dlc {

namespace {

/// A parser that knows the model schema, to read and write the JSON form.
std::unique_ptr<flatbuffers::Parser> makeSchemaParser() {
  flatbuffers::IDLOptions options;
  options.strict_json = false;
  options.output_default_scalars_in_json = false;
  auto parser = std::make_unique<flatbuffers::Parser>(options);
  bool parsed = parser->Parse(schema::kSchemaText);
  (void)parsed;
  assert(parsed && "the embedded schema must parse");
  return parser;
}

schema::ModelT unpackVerified(const uint8_t* data, size_t size, const std::string& source) {
  flatbuffers::Verifier verifier(data, size);
  if (!schema::VerifyModelBuffer(verifier))
    fail("{}: not a valid dlc model (the FlatBuffers verifier rejected it: truncated or corrupt)",
         source);
  schema::ModelT model;
  schema::GetModel(data)->UnPackTo(&model);
  if (model.format_version > kFormatVersion)
    fail("{}: model format version {} is newer than this dlc reads ({})", source,
         model.format_version, kFormatVersion);
  return model;
}

}  // namespace

schema::ModelT parseModel(std::span<const std::byte> contents, const std::string& source) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(contents.data());
  if (contents.empty()) fail("{}: the file is empty", source);

  auto firstChar = std::find_if(contents.begin(), contents.end(), [](std::byte b) {
    return !std::isspace(static_cast<unsigned char>(b));
  });
  if (firstChar != contents.end() && *firstChar == std::byte{'{'}) {
    auto parser = makeSchemaParser();
    std::string text(reinterpret_cast<const char*>(bytes), contents.size());
    if (!parser->Parse(text.c_str()))
      fail("{}: not a valid dlc model in JSON form: {}", source, describeJsonError(*parser, text));
    return unpackVerified(parser->builder_.GetBufferPointer(), parser->builder_.GetSize(), source);
  }

  if (contents.size() < 8 || !schema::ModelBufferHasIdentifier(bytes)) {
    std::string found = contents.size() < 8
                            ? "too short"
                            : std::string(reinterpret_cast<const char*>(bytes) + 4, 4);
    bool printable = contents.size() >= 8 && std::all_of(found.begin(), found.end(), [](char c) {
                       return std::isprint(static_cast<unsigned char>(c));
                     });
    fail("{}: not a dlc model: expected the identifier \"{}\" at byte 4{}", source,
         schema::ModelIdentifier(), printable ? ", found \"" + found + "\"" : "");
  }
  return unpackVerified(bytes, contents.size(), source);
}

schema::ModelT loadModel(const std::string& path) { return parseModel(readFile(path), path); }

std::string serializeModel(const schema::ModelT& model) {
  flatbuffers::FlatBufferBuilder builder(1 << 16);
  schema::FinishModelBuffer(builder, schema::Model::Pack(builder, &model));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

void saveModel(const schema::ModelT& model, const std::string& path) {
  writeFileAtomically(path, serializeModel(model));
}

std::string modelToJson(const schema::ModelT& model) {
  std::string binary = serializeModel(model);
  auto parser = makeSchemaParser();
  std::string json;
  if (!flatbuffers::GenerateText(*parser, binary.data(), &json))
    fail("cannot print the model as JSON");
  return json;
}

}  // namespace dlc
