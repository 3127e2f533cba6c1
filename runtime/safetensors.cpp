#include "runtime/safetensors.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "support/checksum.h"
#include "support/error.h"
#include "support/file_io.h"
#include "support/memory_limit.h"

namespace dlc {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100 << 20;

/// The `__metadata__` entry where dlc keeps its checksum; other readers ignore it.
constexpr const char* kChecksumKey = "dlc.crc32";

/// The CRC-32 of the tensors' names, dtypes, shapes and data in name order: it does not depend
/// on how the header is spaced or the data laid out, only on what the file holds.
uint32_t contentChecksum(const TensorMap& tensors) {
  Crc32 crc;
  for (const auto& [name, tensor] : tensors) {
    crc.update(
        fmt::format("{}\n{}{}\n", name, dtypeName(tensor.dtype()), formatShape(tensor.shape())));
    crc.update(tensor.bytes());
  }
  return crc.value();
}

/// Throws unless the checksum that dlc stored, if any, matches the tensors read.
void verifyContentChecksum(const nlohmann::json& header, const TensorMap& tensors,
                           const std::string& source) {
  auto metadata = header.find("__metadata__");
  if (metadata == header.end() || !metadata->is_object()) return;
  auto stored = metadata->find(kChecksumKey);
  if (stored == metadata->end()) return;
  std::string computed = formatChecksum(contentChecksum(tensors));
  if (!stored->is_string() || stored->get<std::string>() != computed)
    fail("{}: the file is corrupt: its checksum ({} in __metadata__) is {}, its tensors give {}",
         source, kChecksumKey, stored->dump(), computed);
}

}  // namespace

TensorMap parseSafetensors(std::span<const std::byte> contents, const std::string& source) {
  if (contents.size() < 8) fail("{}: not a safetensors file (shorter than its header)", source);
  uint64_t headerSize = 0;
  std::memcpy(&headerSize, contents.data(), 8);
  if (headerSize > kMaxHeaderBytes || headerSize > contents.size() - 8)
    fail("{}: not a safetensors file (header size {} does not fit the file)", source, headerSize);

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(contents.data()) + 8,
                                   reinterpret_cast<const char*>(contents.data()) + 8 + headerSize);
  } catch (const nlohmann::json::exception& error) {
    fail("{}: the safetensors header is not valid JSON: {}", source, error.what());
  }
  if (!header.is_object()) fail("{}: the safetensors header is not a JSON object", source);

  std::span<const std::byte> data = contents.subspan(8 + headerSize);
  TensorMap tensors;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    try {
      std::string dtypeText = entry.at("dtype").get<std::string>();
      DType dtype;
      if (dtypeText == "F32")
        dtype = DType::Float32;
      else if (dtypeText == "I32")
        dtype = DType::Int32;
      else
        fail("{}: tensor '{}' has dtype {}; dlc reads F32 and I32", source, name, dtypeText);

      Shape shape = entry.at("shape").get<Shape>();
      std::optional<int64_t> bytes = tensorBytes(shape, dtype);
      if (!bytes) fail("{}: tensor '{}' has an invalid shape {}", source, name, formatShape(shape));
      auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data.size())
        fail("{}: tensor '{}' has data offsets outside the file", source, name);

      // Checked before allocating: the bytes are in the file, so the tensor fits in memory.
      if (offsets[1] - offsets[0] != static_cast<uint64_t>(*bytes))
        fail("{}: tensor '{}' has {} bytes of data, its shape {} needs {}", source, name,
             offsets[1] - offsets[0], formatShape(shape), *bytes);
      Tensor tensor(dtype, shape);
      // An empty tensor has no storage: memcpy must not see its null pointer.
      if (tensor.byteSize() > 0)
        std::memcpy(tensor.bytes().data(), data.data() + offsets[0], tensor.byteSize());
      tensors[name] = std::move(tensor);
    } catch (const nlohmann::json::exception& error) {
      fail("{}: tensor '{}' has a malformed header entry: {}", source, name, error.what());
    }
  }
  verifyContentChecksum(header, tensors, source);
  return tensors;
}

TensorMap readSafetensors(const std::string& path) {
  return parseSafetensors(readFile(path), path);
}

void writeSafetensors(const std::string& path, const TensorMap& tensors) {
  // A slip of -o must not replace a trained model with its tensors.
  for (const char* modelSuffix : {".fbs", ".json", ".dlc"})
    if (path.ends_with(modelSuffix))
      fail("{}: this names a model file ({}): tensors are written to a .safetensors file", path,
           modelSuffix);
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{kChecksumKey, formatChecksum(contentChecksum(tensors))}};
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    header[name] = {{"dtype", tensor.dtype() == DType::Float32 ? "F32" : "I32"},
                    {"shape", tensor.shape()},
                    {"data_offsets", {offset, offset + tensor.byteSize()}}};
    offset += tensor.byteSize();
  }
  std::string headerText = header.dump();
  // Pad the header with spaces so that the data starts 8-byte aligned.
  headerText.append((8 - headerText.size() % 8) % 8, ' ');

  std::string file(8, '\0');
  uint64_t headerSize = headerText.size();
  std::memcpy(file.data(), &headerSize, 8);
  file += headerText;
  for (const auto& [name, tensor] : tensors)
    file.append(reinterpret_cast<const char*>(tensor.bytes().data()), tensor.byteSize());
  writeFileAtomically(path, file);
}

}  // namespace dlc
