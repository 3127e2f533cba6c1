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

/// Writes the binary form, with its checksum, atomically.
void saveModel(const schema::ModelT& model, const std::string& path);
std::string serializeModel(const schema::ModelT& model);

/// The JSON text form, as FlatBuffers prints it (weights become byte arrays: keep them out). It
/// has no checksum: it is meant to be read and edited.
std::string modelToJson(const schema::ModelT& model);

}  // namespace dlc
