// Reading and writing model files: the binary FlatBuffers form and its JSON text form.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "schema/dlc_model_generated.h"

namespace dlc {

/// The newest `Model.format_version` this build reads and writes.
inline constexpr uint32_t kFormatVersion = 1;

/// Loads a model from either form (binary files start with the "DLCM" identifier at byte 4,
/// JSON files with `{`). The binary form is run through the FlatBuffers verifier and its checksum
/// is checked before anything is read (files from before checksums load unchecked). Throws
/// dlc::Error with the path and what was wrong.
schema::ModelT loadModel(const std::string& path);
schema::ModelT parseModel(std::span<const std::byte> contents, const std::string& source);

/// The form a model file is written in, from its name: ".json" the JSON text form, ".fbs" and
/// ".checkpoint" (what `dlc train` writes beside OUT) the binary form. Any other name is refused
/// (dlc::Error naming the path and the rule), so that no writer guesses.
enum class ModelForm { Binary, Json };
ModelForm modelFormOf(const std::string& path);

/// Writes the model atomically in the form its name asks for (modelFormOf): the binary form
/// with its checksum, or the JSON form. Every command that writes a model goes through it.
void saveModel(const schema::ModelT& model, const std::string& path);
/// The binary form, with its checksum.
std::string serializeModel(const schema::ModelT& model);

/// The JSON text form: strict JSON (quoted keys, enums by name, every default written out)
/// without a checksum, meant to be read and edited. It holds no tensor data: a model with
/// weights or optimizer state is refused (dlc::Error naming `destination`), as is such a JSON
/// file when loaded.
std::string modelToJson(const schema::ModelT& model, const std::string& destination);

}  // namespace dlc
