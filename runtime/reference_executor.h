// The reference executor: runs an IR graph op by op with plain loops and Eigen. It is the oracle
// that every optimization and the JIT are checked against, in float or in double precision.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/executor.h"
#include "support/tensor.h"

namespace dlc {

template <typename Scalar>
class ReferenceExecutor final : public Executor {
 public:
  /// The graph must outlive the executor. Weights and state start at zero until set.
  explicit ReferenceExecutor(const ir::Graph& graph);

  void setTensor(const std::string& name, const Tensor& tensor) override;
  Tensor getTensor(const std::string& name) const override;

  /// Direct access to a weight or state in the executor's precision (gradient checks); the next
  /// run sees what the caller changed.
  std::vector<Scalar>& values(const std::string& name);

  TensorMap run(const TensorMap& inputs) override;

  /// The outputs of the last run in the executor's precision, by output name.
  const std::vector<Scalar>& outputValues(const std::string& name) const;

 private:
  struct Buffer {
    std::vector<Scalar> reals;
    std::vector<int32_t> ids;
  };

  ir::ValueId namedValue(const std::string& name) const;
  /// A value's buffer as a float32 or int32 tensor.
  Tensor tensorOf(ir::ValueId id) const;
  void execute(const ir::Op& op);

  const ir::Graph& graph_;
  std::vector<Buffer> buffers_;
  std::vector<int32_t> lastUse_;  // index of the last op reading each result, to free it
  std::vector<bool> weightOnly_;  // ops run when weights change (ir::weightOnlyOps), by index
  bool weightsBound_ = false;     // whether their results are up to date
};

extern template class ReferenceExecutor<float>;
extern template class ReferenceExecutor<double>;

}  // namespace dlc
