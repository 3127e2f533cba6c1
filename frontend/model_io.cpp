#include "frontend/model_io.h"

#include <flatbuffers/idl.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "frontend/json_diagnostics.h"
#include "schema/checksum.h"
#include "schema/dlc_compiled_generated.h"
#include "schema/dlc_model_schema_text.h"
#include "support/error.h"
#include "support/file_io.h"
#include "support/utf8.h"

namespace dlc {

namespace {

constexpr const char* kNoWeightsInJson =
    "the JSON form holds a model's graph and settings, not tensor data (weights, optimizer "
    "state): keep those in the binary form (.fbs), or move weights with `dlc weights "
    "export`/`import` (safetensors)";

/// How the JSON form is read and written.
enum class JsonUse { Read, Write };

/// A parser that knows the model schema. Reading accepts what people type (unquoted keys);
/// writing is strict JSON, with every default written out so the file shows every setting.
std::unique_ptr<flatbuffers::Parser> makeSchemaParser(JsonUse use) {
  flatbuffers::IDLOptions options;
  options.strict_json = use == JsonUse::Write;
  options.output_default_scalars_in_json = use == JsonUse::Write;
  options.output_enum_identifiers = true;
  auto parser = std::make_unique<flatbuffers::Parser>(options);
  bool parsed = parser->Parse(schema::kSchemaText);
  (void)parsed;
  assert(parsed && "the embedded schema must parse");
  return parser;
}

/// Weights or optimizer state: what only the binary form holds.
bool holdsTensorData(const schema::ModelT& model) {
  return !model.weights.empty() || (model.training && !model.training->optimizer_state.empty());
}

/// FlatBuffers strings are UTF-8 but its verifier does not check them; what is not would break
/// the JSON form and `dlc summary --json` later. `field` names the string as the JSON form does.
void checkUtf8(std::string_view text, const std::string& field, const std::string& source) {
  if (std::optional<size_t> offset = firstInvalidUtf8(text))
    fail("{}: {} is not valid UTF-8 (byte {}), as every string of a model must be", source, field,
         *offset);
}

void checkUtf8(const std::vector<std::string>& texts, const std::string& field,
               const std::string& source) {
  for (size_t i = 0; i < texts.size(); ++i)
    checkUtf8(texts[i], fmt::format("{}[{}]", field, i), source);
}

void checkStringsAreUtf8(const schema::ModelT& model, const std::string& source) {
  checkUtf8(model.name, "name", source);
  checkUtf8(model.producer, "producer", source);
  for (size_t i = 0; i < model.layers.size(); ++i) {
    checkUtf8(model.layers[i]->name, fmt::format("layers[{}].name", i), source);
    checkUtf8(model.layers[i]->inputs, fmt::format("layers[{}].inputs", i), source);
  }
  checkUtf8(model.inputs, "inputs", source);
  checkUtf8(model.outputs, "outputs", source);
  for (size_t i = 0; i < model.weights.size(); ++i)
    checkUtf8(model.weights[i]->name, fmt::format("weights[{}].name", i), source);

  if (const schema::TrainingT* training = model.training.get()) {
    checkUtf8(training->metrics, "training.metrics", source);
    for (size_t i = 0; i < training->optimizer_state.size(); ++i)
      checkUtf8(training->optimizer_state[i]->name,
                fmt::format("training.optimizer_state[{}].name", i), source);
  }
  if (const schema::TextPreprocessingT* preprocessing = model.preprocessing.get()) {
    checkUtf8(preprocessing->filters, "preprocessing.filters", source);
    checkUtf8(preprocessing->split, "preprocessing.split", source);
    checkUtf8(preprocessing->oov_token, "preprocessing.oov_token", source);
    checkUtf8(preprocessing->vocabulary, "preprocessing.vocabulary", source);
    checkUtf8(preprocessing->text_inputs, "preprocessing.text_inputs", source);
  }
}

/// The JSON form has no checksum to check: it is text, meant to be edited.
enum class Checksum { Verify, Ignore };

/// Whether a vector of 8-byte numbers starts on 8 bytes (from an 8-aligned buffer start). The
/// verifier checks a vector's length to 4 bytes only, and unpacking reads the numbers in place.
bool startsAligned(const flatbuffers::Vector<int64_t>* vector) {
  return !vector || reinterpret_cast<uintptr_t>(vector->data()) % alignof(int64_t) == 0;
}

bool longVectorsAligned(const schema::Model& model) {
  if (model.layers())
    for (const schema::Layer* layer : *model.layers())
      if (layer->input() && !startsAligned(layer->input()->shape())) return false;
  auto tensorsAligned = [](const auto* tensors) {
    if (!tensors) return true;
    return std::all_of(tensors->begin(), tensors->end(),
                       [](const schema::Tensor* tensor) { return startsAligned(tensor->shape()); });
  };
  return tensorsAligned(model.weights()) &&
         (!model.training() || tensorsAligned(model.training()->optimizer_state()));
}

schema::ModelT unpackVerified(const uint8_t* data, size_t size, const std::string& source,
                              Checksum checksum) {
  // Read from an 8-aligned copy if the bytes lie elsewhere (a model inside a compiled graph).
  std::vector<uint64_t> aligned;
  if (reinterpret_cast<uintptr_t>(data) % alignof(uint64_t) != 0) {
    aligned.resize((size + 7) / 8);
    std::memcpy(aligned.data(), data, size);
    data = reinterpret_cast<const uint8_t*>(aligned.data());
  }
  flatbuffers::Verifier verifier(data, size);
  if (!schema::VerifyModelBuffer(verifier) || !longVectorsAligned(*schema::GetModel(data)))
    fail("{}: not a valid dlc model (the FlatBuffers verifier rejected it: truncated or corrupt)",
         source);
  if (checksum == Checksum::Verify)
    schema::verifyChecksum(std::as_bytes(std::span(data, size)), schema::Model::VT_CHECKSUM,
                           source);
  schema::ModelT model;
  schema::GetModel(data)->UnPackTo(&model);
  // A checksum belongs to a file, not to the model: saving computes a new one.
  model.checksum = 0;
  if (model.format_version > kFormatVersion)
    fail("{}: model format version {} is newer than this dlc reads ({})", source,
         model.format_version, kFormatVersion);
  checkStringsAreUtf8(model, source);
  return model;
}

}  // namespace

schema::ModelT parseModel(std::span<const std::byte> contents, const std::string& source) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(contents.data());
  if (contents.empty()) fail("{}: the file is empty", source);
  // The JSON form may start with a UTF-8 byte order mark, as Windows editors write it. (Only
  // text may: the binary form is read where it lies, aligned.)
  std::span<const std::byte> json = contents;
  constexpr std::array<uint8_t, 3> kByteOrderMark = {0xEF, 0xBB, 0xBF};
  if (contents.size() >= 3 && std::equal(kByteOrderMark.begin(), kByteOrderMark.end(), bytes))
    json = contents.subspan(3);

  auto firstChar = std::find_if(json.begin(), json.end(), [](std::byte b) {
    return !std::isspace(static_cast<unsigned char>(b));
  });
  if (firstChar != json.end() && *firstChar == std::byte{'{'}) {
    auto parser = makeSchemaParser(JsonUse::Read);
    std::string text(reinterpret_cast<const char*>(json.data()), json.size());
    if (!parser->Parse(text.c_str()))
      fail("{}: not a valid dlc model in JSON form: {}", source, describeJsonError(*parser, text));
    schema::ModelT model = unpackVerified(parser->builder_.GetBufferPointer(),
                                          parser->builder_.GetSize(), source, Checksum::Ignore);
    if (holdsTensorData(model)) fail("{}: {}", source, kNoWeightsInJson);
    return model;
  }

  if (contents.size() < 8 || !schema::ModelBufferHasIdentifier(bytes)) {
    std::string found = contents.size() < 8
                            ? "too short"
                            : std::string(reinterpret_cast<const char*>(bytes) + 4, 4);
    bool printable = contents.size() >= 8 && std::all_of(found.begin(), found.end(), [](char c) {
                       return std::isprint(static_cast<unsigned char>(c));
                     });
    if (found == schema::CompiledGraphIdentifier())
      fail(
          "{}: this is a compiled graph (made by dlc compile -o), not a model: give the model "
          "file it was compiled from",
          source);
    fail("{}: not a dlc model: expected the identifier \"{}\" at byte 4{}", source,
         schema::ModelIdentifier(), printable ? ", found \"" + found + "\"" : "");
  }
  return unpackVerified(bytes, contents.size(), source, Checksum::Verify);
}

schema::ModelT loadModel(const std::string& path) { return parseModel(readFile(path), path); }

namespace {

/// The binary form; `sealed` stores a checksum, which the JSON form leaves out.
std::string packModel(const schema::ModelT& model, bool sealed) {
  flatbuffers::FlatBufferBuilder builder(1 << 16);
  // Default values are stored too, so that the checksum field (zero until sealed) has its place.
  builder.ForceDefaults(sealed);
  schema::FinishModelBuffer(builder, schema::Model::Pack(builder, &model));
  std::span<std::byte> buffer(reinterpret_cast<std::byte*>(builder.GetBufferPointer()),
                              builder.GetSize());
  if (sealed) schema::sealChecksum(buffer, schema::Model::VT_CHECKSUM);
  return std::string(reinterpret_cast<const char*>(buffer.data()), buffer.size());
}

}  // namespace

std::string serializeModel(const schema::ModelT& model) { return packModel(model, true); }

ModelForm modelFormOf(const std::string& path) {
  std::string extension = std::filesystem::path(path).extension().string();
  if (extension == ".json") return ModelForm::Json;
  if (extension == ".fbs" || extension == ".checkpoint") return ModelForm::Binary;
  fail("{}: a model file is named .fbs (the binary form) or .json (the JSON text form){}", path,
       extension.empty() ? "" : fmt::format(", not {}", extension));
}

void saveModel(const schema::ModelT& model, const std::string& path) {
  bool json = modelFormOf(path) == ModelForm::Json;
  writeFileAtomically(path, json ? modelToJson(model, path) : serializeModel(model));
}

std::string modelToJson(const schema::ModelT& model, const std::string& destination) {
  if (holdsTensorData(model)) fail("{}: {}", destination, kNoWeightsInJson);
  std::string binary = packModel(model, false);
  auto parser = makeSchemaParser(JsonUse::Write);
  std::string json;
  if (!flatbuffers::GenerateText(*parser, binary.data(), &json))
    fail("cannot print the model as JSON");
  // Every default is written out, but a checksum belongs to a binary file only.
  auto document = nlohmann::ordered_json::parse(json);
  document.erase("checksum");
  return document.dump(2) + "\n";
}

}  // namespace dlc
