#include "runtime/safetensors.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "support/error.h"
#include "support/file_io.h"

namespace dlc {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100 << 20;

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
      for (int64_t size : shape)
        if (size < 0 || size > (int64_t{1} << 40))
          fail("{}: tensor '{}' has an invalid shape", source, name);
      auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data.size())
        fail("{}: tensor '{}' has data offsets outside the file", source, name);

      Tensor tensor(dtype, shape);
      if (offsets[1] - offsets[0] != tensor.byteSize())
        fail("{}: tensor '{}' has {} bytes of data, its shape {} needs {}", source, name,
             offsets[1] - offsets[0], formatShape(shape), tensor.byteSize());
      // An empty tensor has no storage: memcpy must not see its null pointer.
      if (tensor.byteSize() > 0)
        std::memcpy(tensor.bytes().data(), data.data() + offsets[0], tensor.byteSize());
      tensors[name] = std::move(tensor);
    } catch (const nlohmann::json::exception& error) {
      fail("{}: tensor '{}' has a malformed header entry: {}", source, name, error.what());
    }
  }
  return tensors;
}

TensorMap readSafetensors(const std::string& path) {
  return parseSafetensors(readFile(path), path);
}

void writeSafetensors(const std::string& path, const TensorMap& tensors) {
  nlohmann::json header = nlohmann::json::object();
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
