// What every way of running a graph offers: bind weights and state, run, read them back.
#pragma once

#include <string>

#include "support/tensor.h"

namespace dlc {

class Executor {
 public:
  virtual ~Executor() = default;

  /// Sets a weight or state value; throws dlc::Error on an unknown name or another shape.
  virtual void setTensor(const std::string& name, const Tensor& tensor) = 0;
  virtual Tensor getTensor(const std::string& name) const = 0;

  /// Runs the graph once. `inputs` binds every graph input by name; returns the graph outputs.
  virtual TensorMap run(const TensorMap& inputs) = 0;
};

}  // namespace dlc
