// Emits one LLVM function per distinct op (same kind, types and attributes share a kernel).
#pragma once

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <map>
#include <string>

#include "ir/graph.h"

namespace dlc::codegen {

/// Every kernel takes one pointer per operand, then one for its result (if it has one).
class KernelEmitter {
 public:
  /// `tiledMatMul`: products in generated kernels where they apply, not through BLAS.
  KernelEmitter(llvm::Module& module, const ir::Graph& graph, bool tiledMatMul = true);

  llvm::Function* kernelFor(const ir::Op& op);

 private:
  void emitBody(const ir::Op& op, llvm::Function* function);

  llvm::Module& module_;
  const ir::Graph& graph_;
  bool tiledMatMul_;
  std::map<std::string, llvm::Function*> kernels_;
};

}  // namespace dlc::codegen
