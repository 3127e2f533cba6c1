#include "runtime/dlc_c_api.h"

#include <cstring>
#include <string>

#include "runtime/compiled_model.h"
#include "support/error.h"

struct dlc_model {
  std::unique_ptr<dlc::CompiledModel> compiled;
  dlc::TensorMap inputs;
  dlc::TensorMap outputs;
};

namespace {

thread_local std::string lastError;

/// Runs `body`, turning any exception into -1 and a message for dlc_last_error().
template <typename Body>
int guarded(Body body) {
  try {
    body();
    lastError.clear();
    return 0;
  } catch (const std::exception& error) {
    lastError = error.what();
    return -1;
  }
}

template <typename T>
int setInput(dlc_model* model, const char* name, const T* data, size_t count) {
  return guarded([&] {
    for (const auto& [inputName, type] : model->compiled->inputs()) {
      if (inputName != name) continue;
      if (static_cast<int64_t>(count) != type.numElements())
        dlc::fail("input '{}' takes {} elements, got {}", name, type.numElements(), count);
      dlc::Tensor tensor(type.dtype, type.shape);
      if (tensor.byteSize() != count * sizeof(T)) dlc::fail("input '{}' has another type", name);
      std::memcpy(tensor.bytes().data(), data, tensor.byteSize());
      model->inputs[name] = std::move(tensor);
      return;
    }
    dlc::fail("the model has no input '{}'", name);
  });
}

}  // namespace

extern "C" {

const char* dlc_last_error(void) { return lastError.c_str(); }

dlc_model* dlc_model_load(const char* path) {
  auto model = std::make_unique<dlc_model>();
  if (guarded([&] { model->compiled = dlc::CompiledModel::load(path); }) != 0) return nullptr;
  return model.release();
}

void dlc_model_free(dlc_model* model) { delete model; }

int64_t dlc_model_batch_size(const dlc_model* model) { return model->compiled->batchSize(); }

int dlc_model_set_input_i32(dlc_model* model, const char* name, const int32_t* data, size_t count) {
  return setInput(model, name, data, count);
}

int dlc_model_set_input_f32(dlc_model* model, const char* name, const float* data, size_t count) {
  return setInput(model, name, data, count);
}

int dlc_model_run(dlc_model* model) {
  return guarded([&] { model->outputs = model->compiled->run(model->inputs); });
}

int dlc_model_get_output_f32(const dlc_model* model, const char* name, float* data, size_t count) {
  return guarded([&] {
    auto found = model->outputs.find(name);
    if (found == model->outputs.end()) dlc::fail("the last run has no output '{}'", name);
    auto values = found->second.data<float>();
    if (values.size() != count)
      dlc::fail("output '{}' has {} elements, got room for {}", name, values.size(), count);
    std::memcpy(data, values.data(), count * sizeof(float));
  });
}

int dlc_model_predict_pairs(dlc_model* model, const char* const* first, const char* const* second,
                            size_t count, float* probabilities) {
  return guarded([&] {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (size_t i = 0; i < count; ++i) pairs.emplace_back(first[i], second[i]);
    std::vector<float> result = model->compiled->predictPairs(pairs);
    std::memcpy(probabilities, result.data(), count * sizeof(float));
  });
}

}  // extern "C"
