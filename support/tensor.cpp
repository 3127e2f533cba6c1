#include "support/tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cassert>
#include <cstring>
#include <numeric>

#include "support/error.h"

namespace dlc {

const char* dtypeName(DType dtype) { return dtype == DType::Float32 ? "f32" : "i32"; }

size_t dtypeSize(DType) { return 4; }

std::string formatShape(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

std::optional<int64_t> checkedMultiply(int64_t a, int64_t b) {
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

int64_t numElements(const Shape& shape) {
  int64_t count = 1;
  for (int64_t size : shape) {
    std::optional<int64_t> product = checkedMultiply(count, size);
    if (!product) fail("the shape {} has more elements than 64 bits can count", formatShape(shape));
    count = *product;
  }
  return count;
}

Tensor::Tensor(DType dtype, Shape shape)
    : dtype_(dtype),
      shape_(std::move(shape)),
      storage_(static_cast<size_t>(dlc::numElements(shape_)) * dtypeSize(dtype)) {}

Tensor Tensor::fromFloats(Shape shape, std::vector<float> values) {
  Tensor tensor(DType::Float32, std::move(shape));
  assert(static_cast<int64_t>(values.size()) == tensor.numElements());
  std::memcpy(tensor.storage_.data(), values.data(), tensor.byteSize());
  return tensor;
}

Tensor Tensor::fromInts(Shape shape, std::vector<int32_t> values) {
  Tensor tensor(DType::Int32, std::move(shape));
  assert(static_cast<int64_t>(values.size()) == tensor.numElements());
  std::memcpy(tensor.storage_.data(), values.data(), tensor.byteSize());
  return tensor;
}

template <typename T>
static constexpr DType dtypeOf() {
  return std::is_same_v<std::remove_const_t<T>, float> ? DType::Float32 : DType::Int32;
}

template <typename T>
std::span<T> Tensor::data() {
  assert(dtype_ == dtypeOf<T>());
  return {reinterpret_cast<T*>(storage_.data()), storage_.size() / sizeof(T)};
}

template <typename T>
std::span<const T> Tensor::data() const {
  assert(dtype_ == dtypeOf<T>());
  return {reinterpret_cast<const T*>(storage_.data()), storage_.size() / sizeof(T)};
}

template std::span<float> Tensor::data<float>();
template std::span<int32_t> Tensor::data<int32_t>();
template std::span<const float> Tensor::data<float>() const;
template std::span<const int32_t> Tensor::data<int32_t>() const;

void Tensor::reshape(Shape shape) {
  assert(dlc::numElements(shape) == numElements());
  shape_ = std::move(shape);
}

}  // namespace dlc
