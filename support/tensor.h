// A dense host tensor: the currency between files (models, safetensors), executors and tools.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace dlc {

enum class DType : uint8_t { Float32, Int32 };

using Shape = std::vector<int64_t>;

/// "f32" or "i32", as the IR prints them.
const char* dtypeName(DType dtype);
size_t dtypeSize(DType dtype);

/// "[4, 5]"; a scalar is "[]".
std::string formatShape(const Shape& shape);
/// The product of the sizes; throws dlc::Error if it does not fit in 64 bits (the frontend
/// refuses such shapes first, naming the layer; this is the guard for every other caller).
int64_t numElements(const Shape& shape);

/// a * b, or nullopt if the product does not fit in 64 bits: the one checked multiplication
/// for sizes (numElements, tensorBytes, byte counts).
std::optional<int64_t> checkedMultiply(int64_t a, int64_t b);

class Tensor {
 public:
  Tensor() = default;
  /// A zero-filled tensor.
  Tensor(DType dtype, Shape shape);

  static Tensor fromFloats(Shape shape, std::vector<float> values);
  static Tensor fromInts(Shape shape, std::vector<int32_t> values);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t numElements() const { return dlc::numElements(shape_); }
  size_t byteSize() const { return storage_.size(); }

  /// Typed views; T must match the dtype (float for Float32, int32_t for Int32).
  template <typename T>
  std::span<T> data();
  template <typename T>
  std::span<const T> data() const;

  std::span<std::byte> bytes() { return storage_; }
  std::span<const std::byte> bytes() const { return storage_; }

  /// Same data, another shape with the same number of elements.
  void reshape(Shape shape);

 private:
  DType dtype_ = DType::Float32;
  Shape shape_;
  std::vector<std::byte> storage_;
};

/// Named tensors in name order: a model's weights, a safetensors file, a run's outputs.
using TensorMap = std::map<std::string, Tensor>;

}  // namespace dlc
