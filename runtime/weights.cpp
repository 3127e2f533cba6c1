#include "runtime/weights.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstring>
#include <random>

#include "support/error.h"
#include "support/memory_limit.h"

namespace dlc {

namespace {

/// A generator of its own for each weight: the seed mixed with the weight's name (FNV-1a).
std::mt19937_64 generatorFor(uint64_t seed, const std::string& name) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : name) hash = (hash ^ c) * 1099511628211ull;
  return std::mt19937_64(seed ^ hash);
}

/// Uniform in [0, 1) from the top 53 bits, the same on every standard library.
double uniform01(std::mt19937_64& generator) {
  return static_cast<double>(generator() >> 11) * 0x1.0p-53;
}

double standardNormal(std::mt19937_64& generator) {
  double u1 = 1.0 - uniform01(generator);  // in (0, 1]
  double u2 = uniform01(generator);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

void fillUniform(Tensor& tensor, double limit, std::mt19937_64& generator) {
  for (float& value : tensor.data<float>())
    value = static_cast<float>((2.0 * uniform01(generator) - 1.0) * limit);
}

/// Keras's Orthogonal: QR of a Gaussian matrix of the taller orientation, signs fixed by R's
/// diagonal, transposed back when there are fewer rows than columns.
void fillOrthogonal(Tensor& tensor, std::mt19937_64& generator) {
  int64_t columns = tensor.shape().back();
  int64_t rows = tensor.numElements() / columns;
  int64_t tall = std::max(rows, columns);
  int64_t narrow = std::min(rows, columns);
  Eigen::MatrixXd gaussian(tall, narrow);
  for (int64_t i = 0; i < tall; ++i)
    for (int64_t j = 0; j < narrow; ++j) gaussian(i, j) = standardNormal(generator);

  Eigen::HouseholderQR<Eigen::MatrixXd> qr(gaussian);
  Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(tall, narrow);
  Eigen::MatrixXd r = qr.matrixQR().topLeftCorner(narrow, narrow);
  for (int64_t j = 0; j < narrow; ++j)
    if (r(j, j) < 0) q.col(j) *= -1.0;
  if (rows < columns) q.transposeInPlace();

  auto data = tensor.data<float>();
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < columns; ++j) data[i * columns + j] = static_cast<float>(q(i, j));
}

Tensor initialize(const WeightSpec& spec, uint64_t seed) {
  Tensor tensor(DType::Float32, spec.shape);
  std::mt19937_64 generator = generatorFor(seed, spec.name);
  switch (spec.initializer) {
    case Initializer::Zeros: break;
    case Initializer::GlorotUniform: {
      double fanIn = spec.shape.size() >= 2 ? double(spec.shape[spec.shape.size() - 2]) : 1.0;
      double fanOut = double(spec.shape.back());
      fillUniform(tensor, std::sqrt(6.0 / (fanIn + fanOut)), generator);
      break;
    }
    case Initializer::Orthogonal: fillOrthogonal(tensor, generator); break;
    case Initializer::RandomUniform: fillUniform(tensor, 0.05, generator); break;
    case Initializer::LstmBias: {
      auto data = tensor.data<float>();
      int64_t units = tensor.numElements() / 4;
      std::fill(data.begin() + units, data.begin() + 2 * units, 1.0f);  // gate order i, f, c, o
      break;
    }
  }
  return tensor;
}

}  // namespace

TensorMap initializeWeights(const ModelAnalysis& analysis, uint64_t seed) {
  TensorMap weights;
  for (const WeightSpec& spec : analysis.allWeights()) weights[spec.name] = initialize(spec, seed);
  return weights;
}

void checkWeights(const TensorMap& weights, const ModelAnalysis& analysis,
                  const std::string& source) {
  std::vector<WeightSpec> specs = analysis.allWeights();
  auto isWeight = [&](const std::string& name) {
    return std::any_of(specs.begin(), specs.end(),
                       [&](const WeightSpec& spec) { return spec.name == name; });
  };
  for (const WeightSpec& spec : specs) {
    auto found = weights.find(spec.name);
    if (found == weights.end()) {
      // A misspelt name is both missing and unexpected: say both.
      std::vector<std::string> unexpected;
      for (const auto& entry : weights)
        if (!isWeight(entry.first)) unexpected.push_back("'" + entry.first + "'");
      fail("{}: the weight '{}' is missing{}", source, spec.name,
           unexpected.empty()
               ? ""
               : fmt::format(" (the file has {}, which {} not a weight of this "
                             "model)",
                             fmt::join(unexpected, ", "), unexpected.size() == 1 ? "is" : "are"));
    }
    const Tensor& tensor = found->second;
    if (tensor.dtype() != DType::Float32 || tensor.shape() != spec.shape)
      fail("{}: the weight '{}' must be f32{}, got {}{}", source, spec.name,
           formatShape(spec.shape), dtypeName(tensor.dtype()), formatShape(tensor.shape()));
    // A NaN or an infinity would spread to every output: refuse it where it enters.
    auto values = tensor.data<float>();
    auto bad =
        std::find_if(values.begin(), values.end(), [](float v) { return !std::isfinite(v); });
    if (bad != values.end())
      fail("{}: the weight '{}' holds {} at index {}", source, spec.name, *bad,
           bad - values.begin());
  }
  for (const auto& entry : weights)
    if (!isWeight(entry.first)) fail("{}: '{}' is not a weight of this model", source, entry.first);
}

TensorMap modelWeights(const schema::ModelT& model, const ModelAnalysis& analysis, uint64_t seed) {
  if (model.weights.empty()) return initializeWeights(analysis, seed);
  TensorMap weights = fromSchemaTensors(model.weights, analysis.source);
  checkWeights(weights, analysis, analysis.source);
  return weights;
}

std::vector<std::unique_ptr<schema::TensorT>> toSchemaTensors(const TensorMap& tensors) {
  std::vector<std::unique_ptr<schema::TensorT>> result;
  for (const auto& [name, tensor] : tensors) {
    auto entry = std::make_unique<schema::TensorT>();
    entry->name = name;
    entry->dtype = tensor.dtype() == DType::Float32 ? schema::DType::Float32 : schema::DType::Int32;
    entry->shape = tensor.shape();
    const auto* bytes = reinterpret_cast<const uint8_t*>(tensor.bytes().data());
    entry->data.assign(bytes, bytes + tensor.byteSize());
    result.push_back(std::move(entry));
  }
  return result;
}

TensorMap fromSchemaTensors(const std::vector<std::unique_ptr<schema::TensorT>>& tensors,
                            const std::string& source) {
  TensorMap result;
  for (const auto& entry : tensors) {
    if (entry->dtype != schema::DType::Float32 && entry->dtype != schema::DType::Int32)
      fail("{}: tensor '{}' has an unknown dtype", source, entry->name);
    DType dtype = entry->dtype == schema::DType::Float32 ? DType::Float32 : DType::Int32;
    // The data is already in memory, so a shape that matches it needs no further limit.
    std::optional<int64_t> bytes = tensorBytes(entry->shape, dtype);
    if (!bytes)
      fail("{}: tensor '{}' has an invalid shape {}", source, entry->name,
           formatShape(entry->shape));
    if (entry->data.size() != static_cast<uint64_t>(*bytes))
      fail("{}: tensor '{}' holds {} bytes, its shape {} needs {}", source, entry->name,
           entry->data.size(), formatShape(entry->shape), *bytes);
    Tensor tensor(dtype, entry->shape);
    std::memcpy(tensor.bytes().data(), entry->data.data(), tensor.byteSize());
    result[entry->name] = std::move(tensor);
  }
  return result;
}

}  // namespace dlc
