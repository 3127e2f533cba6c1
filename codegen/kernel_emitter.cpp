#include "codegen/kernel_emitter.h"

#include <fmt/format.h>
#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <functional>

#include "ir/elementwise_program.h"
#include "support/error.h"

namespace dlc::codegen {

namespace {

using ir::OpKind;
using llvm::Value;

Shape stridesOf(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (size_t axis = shape.size(); axis-- > 1;) strides[axis - 1] = strides[axis] * shape[axis];
  return strides;
}

/// Strides of an operand of `shape` read along a broadcast result of `resultShape`.
Shape broadcastStrides(const Shape& shape, const Shape& resultShape) {
  Shape own = stridesOf(shape);
  Shape strides(resultShape.size(), 0);
  size_t offset = resultShape.size() - shape.size();
  for (size_t axis = 0; axis < shape.size(); ++axis)
    strides[axis + offset] = shape[axis] == 1 ? 0 : own[axis];
  return strides;
}

int64_t normalizedAxis(int64_t axis, size_t rank) {
  return axis < 0 ? axis + static_cast<int64_t>(rank) : axis;
}

/// IR-building helpers for one kernel.
class Emitter {
 public:
  Emitter(llvm::Function* function)
      : builder_(llvm::BasicBlock::Create(function->getContext(), "entry", function)),
        module_(*function->getParent()),
        f32_(builder_.getFloatTy()),
        i32_(builder_.getInt32Ty()),
        i64_(builder_.getInt64Ty()) {
    // Contraction into FMAs and approximate functions only: NaNs and infinities keep their
    // meaning, so a diverging training run is still seen.
    llvm::FastMathFlags flags;
    flags.setAllowContract(true);
    flags.setApproxFunc(true);
    builder_.setFastMathFlags(flags);
  }

  llvm::IRBuilder<>& b() { return builder_; }
  llvm::Type* f32() { return f32_; }

  Value* constant(double value) { return llvm::ConstantFP::get(f32_, value); }
  Value* index(int64_t value) { return builder_.getInt64(value); }

  Value* load(Value* base, Value* offset) {
    return builder_.CreateLoad(f32_, builder_.CreateInBoundsGEP(f32_, base, offset));
  }
  Value* loadId(Value* base, Value* offset) {
    Value* id = builder_.CreateLoad(i32_, builder_.CreateInBoundsGEP(i32_, base, offset));
    return builder_.CreateSExt(id, i64_);
  }
  /// The address of float `offset` of `base`.
  Value* at(Value* base, Value* offset) { return builder_.CreateInBoundsGEP(f32_, base, offset); }
  /// Floats on this kernel's stack, for a tile of work that never leaves the cache.
  /// Asks for the cache line at `address` to be fetched for reading (it cannot fault).
  void prefetch(Value* address) {
    llvm::Function* intrinsic = llvm::Intrinsic::getDeclaration(
        builder_.GetInsertBlock()->getModule(), llvm::Intrinsic::prefetch, {builder_.getPtrTy()});
    builder_.CreateCall(intrinsic, {address, builder_.getInt32(0), builder_.getInt32(3),
                                    builder_.getInt32(1)});
  }

  Value* scratch(int64_t floats) {
    llvm::AllocaInst* buffer = builder_.CreateAlloca(f32_, index(floats));
    buffer->setAlignment(llvm::Align(64));
    return buffer;
  }

  void store(Value* value, Value* base, Value* offset) {
    builder_.CreateStore(value, builder_.CreateInBoundsGEP(f32_, base, offset));
  }

  /// for (i = 0; i < count; ++i) body(i); nothing when count is 0.
  void loop(int64_t count, const std::function<void(Value*)>& body) { loop(count, 0, body); }
  /// The same, the vectorizer asked to run `interleave` vectors of the loop side by side.
  void loop(int64_t count, int interleave, const std::function<void(Value*)>& body) {
    if (count <= 0) return;
    llvm::Function* function = builder_.GetInsertBlock()->getParent();
    llvm::BasicBlock* before = builder_.GetInsertBlock();
    llvm::BasicBlock* header = llvm::BasicBlock::Create(function->getContext(), "loop", function);
    llvm::BasicBlock* after = llvm::BasicBlock::Create(function->getContext(), "after", function);
    builder_.CreateBr(header);
    builder_.SetInsertPoint(header);
    llvm::PHINode* counter = builder_.CreatePHI(i64_, 2);
    counter->addIncoming(index(0), before);
    body(counter);
    Value* next = builder_.CreateAdd(counter, index(1), "", true, true);
    counter->addIncoming(next, builder_.GetInsertBlock());
    auto* latch = builder_.CreateCondBr(builder_.CreateICmpSLT(next, index(count)), header, after);
    if (interleave > 0) {
      llvm::LLVMContext& context = function->getContext();
      llvm::Metadata* hint[] = {llvm::MDString::get(context, "llvm.loop.interleave.count"),
                                llvm::ConstantAsMetadata::get(builder_.getInt32(interleave))};
      llvm::Metadata* self[] = {nullptr, llvm::MDNode::get(context, hint)};
      llvm::MDNode* loopId = llvm::MDNode::getDistinct(context, self);
      loopId->replaceOperandWith(0, loopId);
      latch->setMetadata(llvm::LLVMContext::MD_loop, loopId);
    }
    builder_.SetInsertPoint(after);
  }

  /// for (i = begin; i < end; ++i) body(i), with bounds known only at run time.
  void loopRange(Value* begin, Value* end, const std::function<void(Value*)>& body) {
    llvm::Function* function = builder_.GetInsertBlock()->getParent();
    llvm::LLVMContext& context = function->getContext();
    llvm::BasicBlock* before = builder_.GetInsertBlock();
    auto* header = llvm::BasicBlock::Create(context, "range", function);
    auto* inside = llvm::BasicBlock::Create(context, "range.body", function);
    auto* after = llvm::BasicBlock::Create(context, "range.end", function);
    builder_.CreateBr(header);
    builder_.SetInsertPoint(header);
    llvm::PHINode* counter = builder_.CreatePHI(i64_, 2);
    counter->addIncoming(begin, before);
    builder_.CreateCondBr(builder_.CreateICmpSLT(counter, end), inside, after);
    builder_.SetInsertPoint(inside);
    body(counter);
    counter->addIncoming(builder_.CreateAdd(counter, index(1)), builder_.GetInsertBlock());
    builder_.CreateBr(header);
    builder_.SetInsertPoint(after);
  }

  /// if (condition) then(); else otherwise();
  void branch(Value* condition, const std::function<void()>& then,
              const std::function<void()>& otherwise) {
    llvm::Function* function = builder_.GetInsertBlock()->getParent();
    llvm::LLVMContext& context = function->getContext();
    auto* thenBlock = llvm::BasicBlock::Create(context, "then", function);
    auto* elseBlock = llvm::BasicBlock::Create(context, "else", function);
    auto* after = llvm::BasicBlock::Create(context, "endif", function);
    builder_.CreateCondBr(condition, thenBlock, elseBlock);
    builder_.SetInsertPoint(thenBlock);
    then();
    builder_.CreateBr(after);
    builder_.SetInsertPoint(elseBlock);
    otherwise();
    builder_.CreateBr(after);
    builder_.SetInsertPoint(after);
  }

  /// A float holding a small index (as sparse_gradient stores them), as an i64.
  Value* indexFromFloat(Value* value) { return builder_.CreateFPToSI(value, i64_); }
  Value* floatFromIndex(Value* value) { return builder_.CreateSIToFP(value, f32_); }

  /// Loops over every index of `shape`; body gets the offsets Σ index·strides[k] + bases[k].
  void nest(const Shape& shape, const std::vector<Shape>& strides,
            const std::vector<int64_t>& bases,
            const std::function<void(const std::vector<Value*>&)>& body) {
    std::vector<Value*> offsets;
    for (int64_t base : bases) offsets.push_back(index(base));
    nestFrom(0, shape, strides, offsets, body);
  }

  void zero(Value* base, int64_t elements) {
    builder_.CreateMemSet(base, builder_.getInt8(0), elements * 4, llvm::MaybeAlign(4));
  }
  void copy(Value* to, Value* from, int64_t elements) {
    builder_.CreateMemCpy(to, llvm::MaybeAlign(4), from, llvm::MaybeAlign(4), elements * 4);
  }

  Value* intrinsic(llvm::Intrinsic::ID id, std::vector<Value*> arguments) {
    llvm::Function* function = llvm::Intrinsic::getDeclaration(&module_, id, {f32_});
    return builder_.CreateCall(function, arguments);
  }
  /// x limited to [low, high], NaN staying NaN as in std::clamp (minnum and maxnum would turn
  /// it into a bound, hiding a diverging run behind finite values).
  Value* clamp(Value* x, Value* low, Value* high) {
    auto& b = builder_;
    Value* belowHigh = b.CreateSelect(b.CreateFCmpOGT(x, high), high, x);
    return b.CreateSelect(b.CreateFCmpOLT(x, low), low, belowHigh);
  }
  /// max(x, 0) that keeps NaN, as std::max(x, 0) does.
  Value* relu(Value* x) {
    return builder_.CreateSelect(builder_.CreateFCmpOLT(x, constant(0.0)), constant(0.0), x);
  }

  /// e^x in straight-line arithmetic, so that loops calling it vectorize: x = n·ln2 + r,
  /// e^r by its Taylor series to r^7 (|r| <= ln2/2: relative error below 1e-8), 2^n by
  /// building the float's exponent. n is rounded by adding 1.5·2^23, which leaves it in the low
  /// bits of the sum: no float-to-int conversion, whose result for NaN is undefined, so NaN
  /// flows through as NaN without a test of its own.
  Value* exp(Value* input) {
    auto& b = builder_;
    constexpr double kRounding = 12582912.0;  // 1.5·2^23
    Value* x = clamp(input, constant(-87.0), constant(88.0));
    Value* shifted =
        b.CreateFAdd(b.CreateFMul(x, constant(1.4426950408889634)), constant(kRounding));
    Value* n = b.CreateFSub(shifted, constant(kRounding));
    Value* r = b.CreateFSub(x, b.CreateFMul(n, constant(0.693145751953125)));
    r = b.CreateFSub(r, b.CreateFMul(n, constant(1.428606765330187e-06)));
    Value* p = constant(1.0 / 5040);
    for (double coefficient : {1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1.0, 1.0})
      p = b.CreateFAdd(b.CreateFMul(p, r), constant(coefficient));
    // The low bits of `shifted` hold n (two's complement): shifted into the exponent, plus 127.
    Value* bits = b.CreateShl(b.CreateBitCast(shifted, i32_), 23);
    Value* scale = b.CreateBitCast(b.CreateAdd(bits, b.getInt32(127 << 23)), f32_);
    return b.CreateFMul(p, scale);
  }
  Value* sigmoid(Value* x) {
    Value* e = exp(builder_.CreateFNeg(x));
    return builder_.CreateFDiv(constant(1.0), builder_.CreateFAdd(constant(1.0), e));
  }
  Value* activate(ir::Activation kind, Value* x) {
    auto& b = builder_;
    switch (kind) {
      case ir::Activation::Linear: return x;
      case ir::Activation::Sigmoid: return sigmoid(x);
      case ir::Activation::HardSigmoid: {
        Value* ramp = b.CreateFAdd(b.CreateFMul(constant(0.2), x), constant(0.5));
        return clamp(ramp, constant(0.0), constant(1.0));
      }
      case ir::Activation::Tanh: return tanh(x);
      case ir::Activation::Relu: return relu(x);
    }
    return x;
  }

  /// The activation's derivative at x, where y = activate(kind, x).
  Value* derivative(ir::Activation kind, Value* x, Value* y) {
    auto& b = builder_;
    switch (kind) {
      case ir::Activation::Linear: return constant(1.0);
      case ir::Activation::Sigmoid: return b.CreateFMul(y, b.CreateFSub(constant(1.0), y));
      case ir::Activation::HardSigmoid: {
        Value* ramp = b.CreateFAdd(b.CreateFMul(constant(0.2), x), constant(0.5));
        Value* inside =
            b.CreateAnd(b.CreateFCmpOGT(ramp, constant(0.0)), b.CreateFCmpOLT(ramp, constant(1.0)));
        return b.CreateSelect(inside, constant(0.2), constant(0.0));
      }
      case ir::Activation::Tanh: return b.CreateFSub(constant(1.0), b.CreateFMul(y, y));
      case ir::Activation::Relu:
        return b.CreateSelect(b.CreateFCmpOGT(x, constant(0.0)), constant(1.0), constant(0.0));
    }
    return constant(1.0);
  }

  Value* tanh(Value* x) {
    // 1 - 2 / (e^2x + 1): exact at both ends, where e^2x is 0 or huge.
    Value* e = exp(builder_.CreateFMul(x, constant(2.0)));
    Value* fraction = builder_.CreateFDiv(constant(2.0), builder_.CreateFAdd(e, constant(1.0)));
    return builder_.CreateFSub(constant(1.0), fraction);
  }

 private:
  void nestFrom(size_t axis, const Shape& shape, const std::vector<Shape>& strides,
                std::vector<Value*> offsets,
                const std::function<void(const std::vector<Value*>&)>& body) {
    if (axis == shape.size()) {
      body(offsets);
      return;
    }
    loop(shape[axis], [&](Value* i) {
      std::vector<Value*> inner = offsets;
      for (size_t k = 0; k < inner.size(); ++k)
        if (strides[k][axis] != 0)
          inner[k] = builder_.CreateAdd(inner[k], builder_.CreateMul(i, index(strides[k][axis])));
      nestFrom(axis + 1, shape, strides, inner, body);
    });
  }

  llvm::IRBuilder<> builder_;
  llvm::Module& module_;
  llvm::Type* f32_;
  llvm::Type* i32_;
  llvm::Type* i64_;
};

/// The value of an elementwise op at one element.
Value* elementwise(Emitter& e, const ir::Op& op, const std::vector<Value*>& x) {
  auto& b = e.b();
  switch (op.kind) {
    case OpKind::Add: return b.CreateFAdd(x[0], x[1]);
    case OpKind::Sub: return b.CreateFSub(x[0], x[1]);
    case OpKind::Mul: return b.CreateFMul(x[0], x[1]);
    case OpKind::Div: return b.CreateFDiv(x[0], x[1]);
    case OpKind::Neg: return b.CreateFNeg(x[0]);
    case OpKind::Scale: return b.CreateFMul(x[0], e.constant(op.attributes.getFloat("factor")));
    case OpKind::Sigmoid: return e.activate(ir::Activation::Sigmoid, x[0]);
    case OpKind::HardSigmoid: return e.activate(ir::Activation::HardSigmoid, x[0]);
    case OpKind::Tanh: return e.activate(ir::Activation::Tanh, x[0]);
    case OpKind::Relu: return e.activate(ir::Activation::Relu, x[0]);
    case OpKind::Exp: return e.exp(x[0]);
    case OpKind::Log: return e.intrinsic(llvm::Intrinsic::log, {x[0]});
    case OpKind::Sqrt: return e.intrinsic(llvm::Intrinsic::sqrt, {x[0]});
    case OpKind::SigmoidGrad:
      return b.CreateFMul(b.CreateFMul(x[1], x[0]), b.CreateFSub(e.constant(1.0), x[0]));
    case OpKind::HardSigmoidGrad: {
      Value* ramp = b.CreateFAdd(b.CreateFMul(e.constant(0.2), x[0]), e.constant(0.5));
      Value* inside = b.CreateAnd(b.CreateFCmpOGT(ramp, e.constant(0.0)),
                                  b.CreateFCmpOLT(ramp, e.constant(1.0)));
      return b.CreateSelect(inside, b.CreateFMul(e.constant(0.2), x[1]), e.constant(0.0));
    }
    case OpKind::TanhGrad:
      return b.CreateFMul(x[1], b.CreateFSub(e.constant(1.0), b.CreateFMul(x[0], x[0])));
    case OpKind::ReluGrad:
      return b.CreateSelect(b.CreateFCmpOGT(x[0], e.constant(0.0)), x[1], e.constant(0.0));
    default: fail("codegen: {} is not elementwise", ir::opName(op.kind));
  }
}

/// The terms of the binary cross-entropy, p clipped to [1e-7, 1 - 1e-7] as Keras does.
struct CrossEntropy {
  Emitter& e;

  /// One prediction's share of the loss's sum (the loss is minus their mean).
  Value* term(Value* p, Value* y) {
    auto& b = e.b();
    Value* one = e.constant(1.0);
    Value* clipped = e.clamp(p, e.constant(1e-7), e.constant(1.0 - 1e-7));  // keeps NaN
    return b.CreateFAdd(
        b.CreateFMul(y, e.intrinsic(llvm::Intrinsic::log, {clipped})),
        b.CreateFMul(b.CreateFSub(one, y),
                     e.intrinsic(llvm::Intrinsic::log, {b.CreateFSub(one, clipped)})));
  }

  /// scale · d(-term)/dp, zero where the clip is active.
  Value* gradient(Value* p, Value* y, Value* scale) {
    auto& b = e.b();
    Value* one = e.constant(1.0);
    Value* inside = b.CreateAnd(b.CreateFCmpOGE(p, e.constant(1e-7)),
                                b.CreateFCmpOLE(p, e.constant(1.0 - 1e-7)));
    Value* derivative = b.CreateFAdd(b.CreateFNeg(b.CreateFDiv(y, p)),
                                     b.CreateFDiv(b.CreateFSub(one, y), b.CreateFSub(one, p)));
    return b.CreateSelect(inside, b.CreateFMul(scale, derivative), e.constant(0.0));
  }
};

/// Σ_k a[row, k] · b[row, k] for row-major a and b of `width` columns, accumulated in `sum`. The
/// sum may be reassociated, so that it runs in vector lanes: in order, each add would wait for
/// the one before it.
Value* rowDot(Emitter& e, Value* a, Value* b, Value* row, int64_t width, Value* sum) {
  auto& builder = e.b();
  Value* start = builder.CreateMul(row, e.index(width));
  builder.CreateStore(e.constant(0.0), sum);
  llvm::FastMathFlags reassociate = builder.getFastMathFlags();
  reassociate.setAllowReassoc(true);
  e.loop(width, [&](Value* k) {
    Value* product = builder.CreateFMul(e.load(a, builder.CreateAdd(start, k)),
                                        e.load(b, builder.CreateAdd(start, k)));
    auto* total = llvm::cast<llvm::Instruction>(
        builder.CreateFAdd(builder.CreateLoad(e.f32(), sum), product));
    total->setFastMathFlags(reassociate);
    builder.CreateStore(total, sum);
  });
  return builder.CreateLoad(e.f32(), sum);
}

/// fused_dot_dense_loss_grad: one pass over the batch computes each row's dot, its
/// probabilities, their share of the loss and of the kernel's and bias's gradients, and the
/// gradients of the row's two vectors.
void emitDotDenseLossGrad(Emitter& e, const ir::Op& op, const std::vector<Value*>& in, Value* out,
                          const ir::DotDenseLossLayout& layout) {
  auto& b = e.b();
  auto activation = static_cast<ir::Activation>(op.attributes.getInt("activation"));
  int64_t width = layout.width, units = layout.units;
  Value* count = e.constant(double(layout.batch * units));
  Value* scale = b.CreateFDiv(b.CreateLoad(e.f32(), in[5]), count);
  auto slot = [&](int64_t offset, Value* index) {
    return e.at(out, b.CreateAdd(e.index(offset), index));
  };
  Value* loss = slot(layout.loss(), e.index(0));
  Value* sum = b.CreateAlloca(e.f32());
  Value* ddotSum = b.CreateAlloca(e.f32());
  b.CreateStore(e.constant(0.0), loss);
  e.zero(slot(layout.kernelGradient(), e.index(0)), 2 * units);
  CrossEntropy crossEntropy{e};

  e.loop(layout.batch, [&](Value* row) {
    Value* dot = rowDot(e, in[0], in[1], row, width, sum);
    b.CreateStore(e.constant(0.0), ddotSum);
    e.loop(units, [&](Value* n) {
      Value* kernel = e.load(in[2], n);
      Value* preactivation = b.CreateFAdd(b.CreateFMul(dot, kernel), e.load(in[3], n));
      Value* p = e.activate(activation, preactivation);
      Value* element = b.CreateAdd(b.CreateMul(row, e.index(units)), n);
      Value* y = e.load(in[4], element);
      b.CreateStore(p, slot(layout.probabilities(), element));
      b.CreateStore(b.CreateFSub(b.CreateLoad(e.f32(), loss), crossEntropy.term(p, y)), loss);
      Value* dpreactivation = b.CreateFMul(crossEntropy.gradient(p, y, scale),
                                           e.derivative(activation, preactivation, p));
      auto accumulate = [&](Value* at, Value* value) {
        b.CreateStore(b.CreateFAdd(b.CreateLoad(e.f32(), at), value), at);
      };
      accumulate(slot(layout.kernelGradient(), n), b.CreateFMul(dot, dpreactivation));
      accumulate(slot(layout.biasGradient(), n), dpreactivation);
      accumulate(ddotSum, b.CreateFMul(dpreactivation, kernel));
    });
    Value* ddot = b.CreateLoad(e.f32(), ddotSum);
    Value* start = b.CreateMul(row, e.index(width));
    e.loop(width, [&](Value* k) {
      Value* at = b.CreateAdd(start, k);
      b.CreateStore(b.CreateFMul(ddot, e.load(in[1], at)), slot(layout.leftGradient(), at));
      b.CreateStore(b.CreateFMul(ddot, e.load(in[0], at)), slot(layout.rightGradient(), at));
    });
  });
  b.CreateStore(b.CreateFDiv(b.CreateLoad(e.f32(), loss), count), loss);
}

/// The part of [0, units) that part `part` of `parts` takes: [begin, end).
using PartBody =
    std::function<void(Emitter& e, const std::vector<Value*>& arguments, Value* begin, Value* end)>;

/// Emits `body` over [0, units) as a function of its own, which dlc_parallel_for runs in parts
/// on the thread pool; the kernel passes it `arguments` through an array on its stack.
void emitParallel(Emitter& e, const std::vector<Value*>& arguments, int64_t units,
                  const PartBody& body) {
  auto& b = e.b();
  llvm::Module& module = *b.GetInsertBlock()->getModule();
  llvm::LLVMContext& context = module.getContext();
  auto* ptr = llvm::PointerType::get(context, 0);
  auto* i64 = b.getInt64Ty();
  auto* partType = llvm::FunctionType::get(b.getVoidTy(), {ptr, i64, i64}, false);
  llvm::Function* kernel = b.GetInsertBlock()->getParent();
  auto* part = llvm::Function::Create(partType, llvm::Function::InternalLinkage,
                                      kernel->getName() + ".part", module);
  part->addFnAttr(llvm::Attribute::NoUnwind);
  part->addFnAttr(llvm::Attribute::NoInline);

  // The body takes the buffers as noalias arguments, as the kernel does, and is inlined into
  // the part: pointers loaded from the array would otherwise lose that, and the vectorizer
  // would guard its loops with overlap checks that interleaved rows always fail.
  std::vector<llvm::Type*> bodyParameters(arguments.size(), ptr);
  bodyParameters.push_back(i64);
  bodyParameters.push_back(i64);
  auto* bodyFunction =
      llvm::Function::Create(llvm::FunctionType::get(b.getVoidTy(), bodyParameters, false),
                             llvm::Function::InternalLinkage, kernel->getName() + ".body", module);
  bodyFunction->addFnAttr(llvm::Attribute::NoUnwind);
  bodyFunction->addFnAttr(llvm::Attribute::AlwaysInline);
  for (size_t k = 0; k < arguments.size(); ++k)
    bodyFunction->addParamAttr(static_cast<unsigned>(k), llvm::Attribute::NoAlias);
  {
    Emitter be(bodyFunction);
    std::vector<Value*> buffers;
    for (size_t k = 0; k < arguments.size(); ++k) buffers.push_back(bodyFunction->getArg(k));
    body(be, buffers, bodyFunction->getArg(arguments.size()),
         bodyFunction->getArg(arguments.size() + 1));
    be.b().CreateRetVoid();
  }
  {
    Emitter pe(part);
    auto& pb = pe.b();
    std::vector<Value*> callArguments;
    for (size_t k = 0; k < arguments.size(); ++k)
      callArguments.push_back(
          pb.CreateLoad(ptr, pb.CreateInBoundsGEP(ptr, part->getArg(0), pe.index(k))));
    Value* total = pe.index(units);
    callArguments.push_back(pb.CreateSDiv(pb.CreateMul(part->getArg(1), total), part->getArg(2)));
    callArguments.push_back(pb.CreateSDiv(
        pb.CreateMul(pb.CreateAdd(part->getArg(1), pe.index(1)), total), part->getArg(2)));
    pb.CreateCall(bodyFunction, callArguments);
    pb.CreateRetVoid();
  }

  // In the entry block: a kernel may start parallel work inside a loop.
  llvm::IRBuilder<> entry(&kernel->getEntryBlock(), kernel->getEntryBlock().begin());
  auto* array = entry.CreateAlloca(llvm::ArrayType::get(ptr, arguments.size()));
  for (size_t k = 0; k < arguments.size(); ++k)
    b.CreateStore(arguments[k], b.CreateInBoundsGEP(ptr, array, e.index(k)));
  llvm::FunctionCallee parallelFor = module.getOrInsertFunction(
      "dlc_parallel_for", llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, i64}, false));
  b.CreateCall(parallelFor, {part, array, e.index(units)});
}

/// Below this many elements an update runs in one piece: splitting costs more than it saves.
constexpr int64_t kParallelElements = 1 << 16;
/// The same for an LSTM cell (batch x units), whose elements cost a few exponentials each.
constexpr int64_t kParallelCellElements = 1 << 12;
/// The same for a product, in multiply-adds: an LSTM step of 2 or 4 rows (one or two pairs)
/// was 10-15 % slower split over two threads than on one, a step of 8 rows 15 % faster.
constexpr int64_t kParallelProductMacs = 1 << 19;
/// Vectors of an LSTM cell's forward loop in flight at once: its chain of two exponentials and
/// divisions is long, and four chains keep the units busy (1.2x over one). The backward loop
/// holds more values at once and spills when interleaved.
constexpr int kCellInterleave = 4;

/// Copies rows ids[begin..end) of `table` (rows of `width` floats) one after the other to
/// `destination`. The rows are far apart in a large table, so each one starts with a miss: the
/// row a few places on is fetched while this one is copied.
void copyGatheredRows(Emitter& e, Value* table, Value* ids, int64_t width, Value* begin,
                      Value* end, Value* destination) {
  constexpr int64_t kAhead = 4;
  auto& b = e.b();
  e.loopRange(begin, end, [&](Value* row) {
    Value* ahead = b.CreateAdd(row, e.index(kAhead));
    Value* next = b.CreateSelect(b.CreateICmpSLT(ahead, end), ahead, row);
    Value* nextRow = e.at(table, b.CreateMul(e.loadId(ids, next), e.index(width)));
    for (int64_t line = 0; line < width; line += 16) e.prefetch(e.at(nextRow, e.index(line)));
    Value* from = e.at(table, b.CreateMul(e.loadId(ids, row), e.index(width)));
    e.copy(e.at(destination, b.CreateMul(b.CreateSub(row, begin), e.index(width))), from, width);
  });
}

/// Copies rows ids[0..rows) of `table` to `destination`, shared out over the pool if
/// `parallel`: each row starts with a miss, and two threads keep twice as many in flight.
void gatherRows(Emitter& e, Value* table, Value* ids, int64_t width, int64_t rows,
                Value* destination, bool parallel) {
  auto copyPart = [width](Emitter& pe, const std::vector<Value*>& p, Value* begin, Value* end) {
    Value* to = pe.at(p[2], pe.b().CreateMul(begin, pe.index(width)));
    copyGatheredRows(pe, p[0], p[1], width, begin, end, to);
  };
  if (parallel)
    emitParallel(e, {table, ids, destination}, rows, copyPart);
  else
    copyPart(e, {table, ids, destination}, e.index(0), e.index(rows));
}

/// The buffers of a tiled product: C = A·B, with A's rows gathered by `ids` if given, and with
/// `addend` (M x N) and `bias` (N, every row) added if given.
struct ProductOperands {
  Value *a, *b, *c, *ids = nullptr, *addend = nullptr, *bias = nullptr;

  /// The buffers given, in order: what a parallel part receives.
  std::vector<Value*> given() const {
    std::vector<Value*> values = {a, b, c};
    for (Value* optional : {ids, addend, bias})
      if (optional) values.push_back(optional);
    return values;
  }
  /// These operands with their buffers taken from `values` (as given() listed them).
  ProductOperands in(const std::vector<Value*>& values) const {
    ProductOperands part{values[0], values[1], values[2]};
    size_t next = 3;
    if (ids) part.ids = values[next++];
    if (addend) part.addend = values[next++];
    if (bias) part.bias = values[next++];
    return part;
  }
};

/// C = A·B (or Aᵀ·B) for row-major A (M x K, or K x M) and B (K x N), N a multiple of 16,
/// without BLAS: tiles of up to 6 rows by 64 columns of C are summed over k in vector registers
/// (24 of the 32 that AVX-512 has; 6 rows rather than 4 made an LSTM step's product 8 % faster
/// on an Intel Xeon, each vector of B loaded serving more rows), with the column blocks
/// outermost so that a block of B (K x 64) stays in L1 while the rows go by. The LSTM's products
/// are small and skinny (K = 128 or 64): BLAS spends more on packing B and on waking its threads
/// than it gains from its larger tiles there. With more than one column block and enough work
/// the blocks are shared out over the thread pool.
///
/// With `ids` (A·B only), A is gathered: its rows are rows ids[i] of the table `a`, read in
/// place, so that an embedding lookup costs no copy. With `accumulate`, C += A·B; with an
/// addend (and a bias), the sums start from them. With `panelWidth`, B comes in column panels
/// ([N / W, K, W], see fused_matmul_add): a block of B is then contiguous, where a block of
/// rows 2 KiB apart (N = 512) falls into a few sets of L1 and is fetched again for every tile.
/// Other Bs (activations, such as a step's gate gradients) have each block copied to a
/// contiguous one on the stack before its tiles run, when there are enough rows to repay it
/// (the weight gradients of an LSTM's backward pass 6-10 % faster on two threads).
///
/// A gathered A of many rows (the whole sequence's input projection, 2560 rows from a 25 MB
/// table) goes in panels instead: the panel's rows are copied together on the stack, and meet
/// every column block there, the panels shared out over the pool. Reading the rows in place
/// from all over the table was slower on one thread and split worse over two.
struct TiledProduct {
  static constexpr int64_t kLanes = 16, kMaxRows = 6, kWideBelowRows = 4;
  static constexpr int64_t kPanelRows = 128, kPanelFromRows = 256;
  /// A copied block of B must fit the stack and L1 with room to spare.
  static constexpr int64_t kMaxPackedFloats = 256 * 64, kPackFromRows = 4 * kMaxRows;
  int64_t m, k, n;
  bool transposeA;
  bool accumulate = false;
  int64_t panelWidth = 0;

  /// One tile: `rows` rows from `row`, `vectors` x 16 columns from `column`; B's columns from
  /// `packedB` (a copy of the column block, see packBlock) if given.
  void tile(Emitter& e, const ProductOperands& o, Value* row, Value* column, int64_t rows,
            int64_t vectors, Value* packedB = nullptr) const {
    auto& builder = e.b();
    auto* vector = llvm::FixedVectorType::get(e.f32(), kLanes);
    llvm::Function* function = builder.GetInsertBlock()->getParent();
    llvm::IRBuilder<> entry(&function->getEntryBlock(), function->getEntryBlock().begin());
    auto offsetOf = [&](int64_t r, int64_t v) {
      return builder.CreateAdd(builder.CreateMul(builder.CreateAdd(row, e.index(r)), e.index(n)),
                               builder.CreateAdd(column, e.index(v * kLanes)));
    };
    auto vectorAt = [&](Value* base, Value* offset) {
      return builder.CreateAlignedLoad(vector, builder.CreateInBoundsGEP(e.f32(), base, offset),
                                       llvm::Align(4));
    };
    if (o.addend) {
      // The next tile's strip of the addend is fetched while this one is summed: the strips
      // are rows apart, which the hardware prefetcher does not follow. (Past the last row
      // this fetches arena bytes nobody reads; a prefetch cannot fault.)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t v = 0; v < vectors; ++v)
          e.prefetch(builder.CreateGEP(e.f32(), o.addend, offsetOf(rows + r, v)));
    }
    std::vector<llvm::AllocaInst*> sums;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t v = 0; v < vectors; ++v) {
        sums.push_back(entry.CreateAlloca(vector));
        Value* start = llvm::ConstantFP::get(vector, 0.0);
        if (accumulate) start = vectorAt(o.c, offsetOf(r, v));
        if (o.addend) start = vectorAt(o.addend, offsetOf(r, v));
        if (o.bias)
          start = builder.CreateFAdd(
              start, vectorAt(o.bias, builder.CreateAdd(column, e.index(v * kLanes))));
        builder.CreateStore(start, sums.back());
      }
    // Where each row of A starts (A·B): its row of the table when gathered.
    std::vector<Value*> aStarts;
    for (int64_t r = 0; r < rows && !transposeA; ++r) {
      Value* aRow = builder.CreateAdd(row, e.index(r));
      aStarts.push_back(builder.CreateMul(o.ids ? e.loadId(o.ids, aRow) : aRow, e.index(k)));
    }
    // Where each vector's column of B starts (at k = 0), and the distance from one k to the next.
    std::vector<Value*> bStarts;
    for (int64_t v = 0; v < vectors; ++v) {
      Value* bColumn = builder.CreateAdd(column, e.index(v * kLanes));
      if (packedB) {
        bStarts.push_back(e.index(v * kLanes));
      } else if (panelWidth == 0) {
        bStarts.push_back(bColumn);
      } else {
        Value* panel = builder.CreateUDiv(bColumn, e.index(panelWidth));
        bStarts.push_back(builder.CreateAdd(builder.CreateMul(panel, e.index(k * panelWidth)),
                                            builder.CreateURem(bColumn, e.index(panelWidth))));
      }
    }
    Value* bMatrix = packedB ? packedB : o.b;
    Value* bStride = e.index(packedB ? vectors * kLanes : panelWidth == 0 ? n : panelWidth);
    e.loop(k, [&](Value* inner) {
      std::vector<Value*> bRow;
      Value* bOffset = builder.CreateMul(inner, bStride);
      for (int64_t v = 0; v < vectors; ++v)
        bRow.push_back(vectorAt(bMatrix, builder.CreateAdd(bOffset, bStarts[v])));
      for (int64_t r = 0; r < rows; ++r) {
        Value* aRow = builder.CreateAdd(row, e.index(r));
        Value* aOffset = transposeA ? builder.CreateAdd(builder.CreateMul(inner, e.index(m)), aRow)
                                    : builder.CreateAdd(aStarts[r], inner);
        Value* aValue = builder.CreateVectorSplat(kLanes, e.load(o.a, aOffset));
        for (int64_t v = 0; v < vectors; ++v) {
          llvm::AllocaInst* sum = sums[r * vectors + v];
          Value* product =
              builder.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vector},
                                      {aValue, bRow[v], builder.CreateLoad(vector, sum)});
          builder.CreateStore(product, sum);
        }
      }
    });
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t v = 0; v < vectors; ++v)
        builder.CreateAlignedStore(
            builder.CreateLoad(vector, sums[r * vectors + v]),
            builder.CreateInBoundsGEP(e.f32(), o.c, offsetOf(r, v)), llvm::Align(4));
  }

  /// Whether the tiles of `rows` rows read a copy of each column block of B (`vectors` wide).
  bool packsB(int64_t rows, int64_t vectors) const {
    return panelWidth == 0 && rows >= kPackFromRows && k * vectors * kLanes <= kMaxPackedFloats;
  }

  /// Copies the K x `width` block of B at `column` to `packed`, its rows one after the other.
  void packBlock(Emitter& e, Value* b, Value* column, int64_t width, Value* packed) const {
    auto& builder = e.b();
    e.loop(k, [&](Value* inner) {
      Value* from = builder.CreateAdd(builder.CreateMul(inner, e.index(n)), column);
      e.copy(e.at(packed, builder.CreateMul(inner, e.index(width))), e.at(b, from), width);
    });
  }

  /// `rows` rows from `first` of one column block: by 6, then the rest in one shorter tile.
  /// With `packed` (room for a block, see roomForBlock), the block is copied there first.
  void columnBlock(Emitter& e, const ProductOperands& o, Value* column, int64_t vectors,
                   Value* first, int64_t rows, Value* packed = nullptr) const {
    auto& builder = e.b();
    if (packed) packBlock(e, o.b, column, vectors * kLanes, packed);
    e.loop(rows / kMaxRows, [&](Value* block) {
      Value* row = builder.CreateAdd(first, builder.CreateMul(block, e.index(kMaxRows)));
      tile(e, o, row, column, kMaxRows, vectors, packed);
    });
    if (rows % kMaxRows != 0)
      tile(e, o, builder.CreateAdd(first, e.index(rows - rows % kMaxRows)), column,
           rows % kMaxRows, vectors, packed);
  }

  /// Room for a copy of a column block of B if the tiles of `rows` rows read one, else null.
  /// Call it outside loops: the room is taken on the stack each time.
  Value* roomForBlock(Emitter& e, int64_t rows, int64_t vectors) const {
    return packsB(rows, vectors) ? e.scratch(k * vectors * kLanes) : nullptr;
  }

  /// `rows` gathered rows from `first`, copied to `packed`, against every column block.
  void panel(Emitter& e, const ProductOperands& o, Value* packed, Value* first, int64_t rows,
             int64_t vectors) const {
    auto& builder = e.b();
    copyGatheredRows(e, o.a, o.ids, k, first, builder.CreateAdd(first, e.index(rows)), packed);
    Value* rowsOffset = builder.CreateMul(first, e.index(n));
    ProductOperands inPanel{packed, o.b, e.at(o.c, rowsOffset)};
    if (o.addend) inPanel.addend = e.at(o.addend, rowsOffset);
    inPanel.bias = o.bias;
    int64_t width = vectors * kLanes;
    Value* packedB = roomForBlock(e, rows, vectors);
    e.loop(n / width, [&](Value* block) {
      columnBlock(e, inPanel, builder.CreateMul(block, e.index(width)), vectors, e.index(0),
                  rows, packedB);
    });
  }

  void emit(Emitter& e, const ProductOperands& o) const {
    // With fewer than 4 rows, wider tiles keep enough independent sums in flight to hide the
    // latency of an FMA.
    int64_t wideVectors = m < kWideBelowRows ? 8 : 4, wide = wideVectors * kLanes;
    if (o.ids && !accumulate && n % wide == 0 && m >= kPanelFromRows) {
      int64_t panels = m / kPanelRows, rest = m % kPanelRows;
      emitParallel(e, o.given(), panels,
                   [&](Emitter& pe, const std::vector<Value*>& p, Value* begin, Value* end) {
                     Value* packed = pe.scratch(kPanelRows * k);
                     pe.loopRange(begin, end, [&](Value* index) {
                       Value* first = pe.b().CreateMul(index, pe.index(kPanelRows));
                       panel(pe, o.in(p), packed, first, kPanelRows, wideVectors);
                     });
                   });
      if (rest != 0) panel(e, o, e.scratch(rest * k), e.index(m - rest), rest, wideVectors);
      return;
    }
    if (n % wide == 0 && n / wide >= 2 && m * k * n >= kParallelProductMacs) {
      emitParallel(e, o.given(), n / wide,
                   [&](Emitter& pe, const std::vector<Value*>& p, Value* begin, Value* end) {
                     Value* packed = roomForBlock(pe, m, wideVectors);
                     pe.loopRange(begin, end, [&](Value* block) {
                       columnBlock(pe, o.in(p), pe.b().CreateMul(block, pe.index(wide)),
                                   wideVectors, pe.index(0), m, packed);
                     });
                   });
      return;
    }
    int64_t done = 0;
    for (int64_t vectors : {wideVectors, int64_t{1}}) {
      int64_t width = vectors * kLanes, blocks = (n - done) / width;
      e.loop(blocks, [&](Value* block) {
        Value* column = e.b().CreateAdd(e.index(done), e.b().CreateMul(block, e.index(width)));
        columnBlock(e, o, column, vectors, e.index(0), m);
      });
      done += blocks * width;
    }
  }
};

/// C = A·Bᵀ for row-major A (M x K) and B (N x K), K a multiple of 16: each element is a dot of
/// two rows, so tiles of up to 8 rows of A by 3 rows of B sum products along k in vector
/// registers and reduce them across lanes at the end. B (a step's weights, 256 KB) comes from
/// L2 while A's rows stay in L1: 8 rows of A for each row of B read half as much of B as the
/// square 4 x 4 tiles did (the transposed products of an LSTM's backward pass 12 % faster). The
/// tiles of A rows are shared out over the thread pool (BLAS cannot be: OpenBLAS serializes
/// calls from several threads).
struct DotProduct {
  static constexpr int64_t kLanes = 16, kTileRows = 8, kTileColumns = 3;
  int64_t m, k, n;

  void tile(Emitter& e, Value* a, Value* b, Value* c, Value* row, Value* column, int64_t rows,
            int64_t columns) const {
    auto& builder = e.b();
    auto* vector = llvm::FixedVectorType::get(e.f32(), kLanes);
    llvm::Function* function = builder.GetInsertBlock()->getParent();
    llvm::IRBuilder<> entry(&function->getEntryBlock(), function->getEntryBlock().begin());
    std::vector<llvm::AllocaInst*> sums;
    for (int64_t index = 0; index < rows * columns; ++index)
      sums.push_back(entry.CreateAlloca(vector));
    for (llvm::AllocaInst* sum : sums) builder.CreateStore(llvm::ConstantFP::get(vector, 0.0), sum);
    auto loadRow = [&](Value* matrix, Value* first, int64_t offset, Value* inner) {
      Value* start = builder.CreateMul(builder.CreateAdd(first, e.index(offset)), e.index(k));
      Value* at = builder.CreateInBoundsGEP(e.f32(), matrix, builder.CreateAdd(start, inner));
      return builder.CreateAlignedLoad(vector, at, llvm::Align(4));
    };
    e.loop(k / kLanes, [&](Value* step) {
      Value* inner = builder.CreateMul(step, e.index(kLanes));
      std::vector<Value*> aRows, bRows;
      for (int64_t r = 0; r < rows; ++r) aRows.push_back(loadRow(a, row, r, inner));
      for (int64_t s = 0; s < columns; ++s) bRows.push_back(loadRow(b, column, s, inner));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t s = 0; s < columns; ++s) {
          llvm::AllocaInst* sum = sums[r * columns + s];
          builder.CreateStore(
              builder.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vector},
                                      {aRows[r], bRows[s], builder.CreateLoad(vector, sum)}),
              sum);
        }
    });
    llvm::FastMathFlags reassociate = builder.getFastMathFlags();
    reassociate.setAllowReassoc(true);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t s = 0; s < columns; ++s) {
        auto* total = llvm::cast<llvm::Instruction>(builder.CreateFAddReduce(
            e.constant(0.0), builder.CreateLoad(vector, sums[r * columns + s])));
        total->setFastMathFlags(reassociate);
        Value* offset =
            builder.CreateAdd(builder.CreateMul(builder.CreateAdd(row, e.index(r)), e.index(n)),
                              builder.CreateAdd(column, e.index(s)));
        e.store(total, c, offset);
      }
  }

  /// Rows [first, first + rows) of C against every row of B: by 3, then the rest.
  void rowTile(Emitter& e, Value* a, Value* b, Value* c, Value* first, int64_t rows) const {
    e.loop(n / kTileColumns, [&](Value* block) {
      tile(e, a, b, c, first, e.b().CreateMul(block, e.index(kTileColumns)), rows, kTileColumns);
    });
    if (n % kTileColumns != 0)
      tile(e, a, b, c, first, e.index(n - n % kTileColumns), rows, n % kTileColumns);
  }

  void emit(Emitter& e, Value* a, Value* b, Value* c) const {
    emitParallel(e, {a, b, c}, m / kTileRows,
                 [&](Emitter& pe, const std::vector<Value*>& p, Value* begin, Value* end) {
                   pe.loopRange(begin, end, [&](Value* block) {
                     rowTile(pe, p[0], p[1], p[2], pe.b().CreateMul(block, pe.index(kTileRows)),
                            kTileRows);
                   });
                 });
    if (m % kTileRows != 0) rowTile(e, a, b, c, e.index(m - m % kTileRows), m % kTileRows);
  }
};

/// Which generated kernel computes a product, if one does (strided reads stay with BLAS).
bool useTiledMatMul(int64_t n, bool transposeA, bool transposeB) {
  return !transposeB && n % 16 == 0;
}
bool useDotProduct(int64_t k, bool transposeA, bool transposeB) {
  return !transposeA && transposeB && k % 16 == 0;
}

/// What every element of an Adam update shares: the hyperparameters and the bias corrections of
/// this step.
struct AdamStep {
  float beta1, beta2;
  Value *rate, *epsilon, *correction1, *correction2;
};

AdamStep adamStep(Emitter& e, const ir::Attributes& attributes, Value* step) {
  auto& b = e.b();
  // In float, as the reference executor computes them.
  AdamStep adam;
  adam.beta1 = static_cast<float>(attributes.getFloat("beta_1"));
  adam.beta2 = static_cast<float>(attributes.getFloat("beta_2"));
  adam.rate = e.constant(attributes.getFloat("learning_rate"));
  adam.epsilon = e.constant(attributes.getFloat("epsilon"));
  Value* one = e.constant(1.0);
  adam.correction1 =
      b.CreateFSub(one, e.intrinsic(llvm::Intrinsic::pow, {e.constant(adam.beta1), step}));
  adam.correction2 =
      b.CreateFSub(one, e.intrinsic(llvm::Intrinsic::pow, {e.constant(adam.beta2), step}));
  return adam;
}

/// One element of Adam, read and written in place: m, v and then the weight, from gradient g.
void adamElement(Emitter& e, const AdamStep& adam, Value* weight, Value* mSlots, Value* vSlots,
                 Value* i, Value* g) {
  auto& b = e.b();
  Value* m = b.CreateFAdd(b.CreateFMul(e.constant(adam.beta1), e.load(mSlots, i)),
                          b.CreateFMul(e.constant(1.0f - adam.beta1), g));
  Value* v = b.CreateFAdd(b.CreateFMul(e.constant(adam.beta2), e.load(vSlots, i)),
                          b.CreateFMul(e.constant(1.0f - adam.beta2), b.CreateFMul(g, g)));
  Value* denominator = b.CreateFAdd(
      e.intrinsic(llvm::Intrinsic::sqrt, {b.CreateFDiv(v, adam.correction2)}), adam.epsilon);
  Value* update =
      b.CreateFDiv(b.CreateFMul(adam.rate, b.CreateFDiv(m, adam.correction1)), denominator);
  e.store(m, mSlots, i);
  e.store(v, vSlots, i);
  e.store(b.CreateFSub(e.load(weight, i), update), weight, i);
}

llvm::FunctionCallee sgemm(llvm::Module& module) {
  llvm::LLVMContext& context = module.getContext();
  auto* i32 = llvm::Type::getInt32Ty(context);
  auto* f32 = llvm::Type::getFloatTy(context);
  auto* ptr = llvm::PointerType::get(context, 0);
  auto* type = llvm::FunctionType::get(
      llvm::Type::getVoidTy(context),
      {i32, i32, i32, i32, i32, i32, f32, ptr, i32, ptr, i32, f32, ptr, i32}, false);
  return module.getOrInsertFunction("cblas_sgemm", type);
}

/// C = α op(A) op(B) + β C in row-major storage, through OpenBLAS.
void callSgemm(Emitter& e, llvm::Module& module, bool transposeA, bool transposeB, int64_t m,
               int64_t n, int64_t k, Value* a, int64_t lda, Value* b, int64_t ldb, Value* beta,
               Value* c, int64_t ldc) {
  constexpr int kRowMajor = 101, kNoTranspose = 111, kTranspose = 112;
  auto i32 = [&](int64_t value) { return e.b().getInt32(static_cast<int32_t>(value)); };
  e.b().CreateCall(sgemm(module),
                   {i32(kRowMajor), i32(transposeA ? kTranspose : kNoTranspose),
                    i32(transposeB ? kTranspose : kNoTranspose), i32(m), i32(n), i32(k),
                    e.constant(1.0), a, i32(lda), b, i32(ldb), beta, c, i32(ldc)});
}

/// Floats of a fused gather's tile of rows: small enough to stay in the L2 cache.
constexpr int64_t kTileFloats = 16384;

/// The embedding lookups fused with a product (fused_gather_matmul, fused_matmul_scatter_add).
/// A gathering product runs the tiled kernel on the table's rows in place. Otherwise the ids
/// are taken a tile of rows at a time; each tile of gathered rows (or of the rows' gradients)
/// lives on the stack between one product and the next. The scatter adds the rows in id order,
/// on the calling thread, so that repeated ids sum in the same order on any number of threads.
void emitFusedGather(Emitter& e, llvm::Module& module, const ir::Op& op,
                     const std::vector<Value*>& in, Value* out,
                     const std::function<const Shape&(size_t)>& shapeOf, const Shape& outShape,
                     bool tiledMatMul) {
  auto& b = e.b();
  bool gathering = op.kind == OpKind::FusedGatherMatMul;
  bool transposed = op.attributes.getInt("transpose_a", 0) != 0;
  Value* ids = in[gathering ? 1 : 0];
  int64_t count = numElements(shapeOf(gathering ? 1 : 0));
  int64_t width = gathering ? shapeOf(0)[1] : outShape[1];  // D: the table's row width
  int64_t columns = shapeOf(2)[1];                          // N
  bool tiled = tiledMatMul && columns % TiledProduct::kLanes == 0;
  if (gathering && tiled && !transposed) {
    TiledProduct{count, width, columns, false}.emit(e, {in[0], in[2], out, ids});
    return;
  }
  int64_t tileRows = std::clamp<int64_t>(kTileFloats / width, 1, std::max<int64_t>(count, 1));
  Value* tile = e.scratch(tileRows * width);
  if (!gathering && op.operands.size() > 3)
    e.copy(out, in[3], numElements(outShape));
  else if (!gathering || tiled)
    e.zero(out, numElements(outShape));

  auto tileAt = [&](Value* start, int64_t rows) {
    auto rowOf = [&](Value* r) { return e.loadId(ids, b.CreateAdd(start, r)); };
    if (!gathering) {
      // The rows' gradients dy · bᵀ, then added into the table's rows.
      Value* gradients = e.at(in[1], b.CreateMul(start, e.index(columns)));
      if (tiled)
        DotProduct{rows, columns, width}.emit(e, gradients, in[2], tile);
      else
        callSgemm(e, module, false, true, rows, width, columns, gradients, columns, in[2], columns,
                  e.constant(0.0), tile, width);
      e.loop(rows, [&](Value* r) {
        Value* to = b.CreateMul(rowOf(r), e.index(width));
        Value* from = b.CreateMul(r, e.index(width));
        e.loop(width, [&](Value* j) {
          Value* target = b.CreateAdd(to, j);
          e.store(b.CreateFAdd(e.load(out, target), e.load(tile, b.CreateAdd(from, j))), out,
                  target);
        });
      });
      return;
    }
    // Split as the product that follows is, which keeps the pool awake between them.
    gatherRows(e, in[0], b.CreateInBoundsGEP(b.getInt32Ty(), ids, start), width, rows, tile,
               width * rows * columns >= kParallelProductMacs);
    Value* gradients = e.at(in[2], b.CreateMul(start, e.index(columns)));
    if (tiled) {
      TiledProduct product{width, rows, columns, true};
      product.accumulate = true;
      product.emit(e, {tile, gradients, out});
    } else if (transposed) {
      Value* first = b.CreateICmpEQ(start, e.index(0));
      callSgemm(e, module, true, false, width, columns, rows, tile, width, gradients, columns,
                b.CreateSelect(first, e.constant(0.0), e.constant(1.0)), out, columns);
    } else {
      callSgemm(e, module, false, false, rows, columns, width, tile, width, in[2], columns,
                e.constant(0.0), e.at(out, b.CreateMul(start, e.index(columns))), columns);
    }
  };
  int64_t fullTiles = count / tileRows, remainder = count % tileRows;
  e.loop(fullTiles, [&](Value* t) { tileAt(b.CreateMul(t, e.index(tileRows)), tileRows); });
  if (remainder > 0) tileAt(e.index(fullTiles * tileRows), remainder);
}

/// Copies between a tensor of shape `piece` and the block of a larger tensor of shape `whole`
/// that starts at `start` along `axis` (the shapes agree elsewhere): into the whole if
/// `intoWhole`, out of it otherwise. Each index before the axis is one contiguous run of floats
/// on both sides, copied as such.
void copyBlock(Emitter& e, Value* piece, Value* whole, const Shape& pieceShape,
               const Shape& wholeShape, int64_t axis, int64_t start, bool intoWhole) {
  auto& b = e.b();
  int64_t rows = 1, inner = 1;
  for (int64_t k = 0; k < axis; ++k) rows *= pieceShape[k];
  for (size_t k = axis + 1; k < pieceShape.size(); ++k) inner *= pieceShape[k];
  int64_t run = pieceShape[axis] * inner, wholeStride = wholeShape[axis] * inner;
  if (run == 0) return;
  e.loop(rows, [&](Value* row) {
    Value* pieceAt = e.at(piece, b.CreateMul(row, e.index(run)));
    Value* wholeAt =
        e.at(whole, b.CreateAdd(b.CreateMul(row, e.index(wholeStride)), e.index(start * inner)));
    if (intoWhole)
      e.copy(wholeAt, pieceAt, run);
    else
      e.copy(pieceAt, wholeAt, run);
  });
}

}  // namespace

KernelEmitter::KernelEmitter(llvm::Module& module, const ir::Graph& graph, bool tiledMatMul)
    : module_(module), graph_(graph), tiledMatMul_(tiledMatMul) {}

llvm::Function* KernelEmitter::kernelFor(const ir::Op& op) {
  std::string key = std::string(ir::opName(op.kind));
  for (ir::ValueId operand : op.operands) key += " " + ir::formatType(graph_.type(operand));
  if (op.result != ir::kNoValue) key += " -> " + ir::formatType(graph_.type(op.result));
  key += " " + ir::formatAttributes(op.attributes);
  if (auto found = kernels_.find(key); found != kernels_.end()) return found->second;

  size_t pointers = op.operands.size() + (op.result != ir::kNoValue ? 1 : 0);
  auto* ptr = llvm::PointerType::get(module_.getContext(), 0);
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(module_.getContext()),
                                       std::vector<llvm::Type*>(pointers, ptr), false);
  std::string name = fmt::format("{}_{}", ir::opName(op.kind), kernels_.size());
  auto* function = llvm::Function::Create(type, llvm::Function::InternalLinkage, name, module_);
  function->addFnAttr(llvm::Attribute::NoUnwind);
  // Kernels stay apart: inlining thousands of calls into the entry would only slow compiling.
  function->addFnAttr(llvm::Attribute::NoInline);
  // The memory plan gives every value live during an op bytes of its own.
  for (auto& argument : function->args()) argument.addAttr(llvm::Attribute::NoAlias);

  emitBody(op, function);
  kernels_[key] = function;
  return function;
}

void KernelEmitter::emitBody(const ir::Op& op, llvm::Function* function) {
  Emitter e(function);
  auto& b = e.b();
  std::vector<Value*> in;
  for (auto& argument : function->args()) in.push_back(&argument);
  Value* out = op.result != ir::kNoValue ? in.back() : nullptr;
  auto shapeOf = [&](size_t operand) -> const Shape& {
    return graph_.type(op.operands[operand]).shape;
  };
  const Shape& outShape = out ? graph_.type(op.result).shape : shapeOf(0);
  int64_t outElements = numElements(outShape);
  const ir::Attributes& attributes = op.attributes;

  if (ir::isElementwise(op.kind) || op.kind == OpKind::FusedElementwise) {
    // One loop over the result; a fused chain evaluates its steps in registers, a plain op is
    // a chain of one step.
    std::vector<ir::ElementwiseStep> steps;
    if (op.kind == OpKind::FusedElementwise) {
      steps = ir::decodeElementwiseProgram(op);
    } else {
      steps.push_back({op.kind, {0}, attributes});
      if (op.operands.size() > 1) steps.back().arguments.push_back(1);
    }
    size_t arity = op.operands.size();
    auto evaluate = [&](std::vector<Value*> values) {
      for (const ir::ElementwiseStep& step : steps) {
        ir::Op stepOp{step.kind, {}, ir::kNoValue, step.attributes, {}};
        std::vector<Value*> x;
        for (int32_t argument : step.arguments) x.push_back(values[argument]);
        values.push_back(elementwise(e, stepOp, x));
      }
      return values.back();
    };
    bool sameShapes = true;
    for (size_t k = 0; k < arity; ++k) sameShapes &= shapeOf(k) == outShape;
    if (sameShapes) {
      e.loop(outElements, [&](Value* i) {
        std::vector<Value*> x;
        for (size_t k = 0; k < arity; ++k) x.push_back(e.load(in[k], i));
        e.store(evaluate(x), out, i);
      });
    } else {
      std::vector<Shape> strides{stridesOf(outShape)};
      for (size_t k = 0; k < arity; ++k) strides.push_back(broadcastStrides(shapeOf(k), outShape));
      e.nest(outShape, strides, std::vector<int64_t>(arity + 1, 0), [&](const auto& offsets) {
        std::vector<Value*> x;
        for (size_t k = 0; k < arity; ++k) x.push_back(e.load(in[k], offsets[k + 1]));
        e.store(evaluate(x), out, offsets[0]);
      });
    }
    b.CreateRetVoid();
    return;
  }

  switch (op.kind) {
    case OpKind::Fill: {
      Value* value = e.constant(attributes.getFloat("value"));
      e.loop(outElements, [&](Value* i) { e.store(value, out, i); });
      break;
    }
    case OpKind::Gather: {
      // A copy a row, from all over a large table (the folded embedding is 98 MiB).
      int64_t width = shapeOf(0)[1], rows = numElements(shapeOf(1));
      gatherRows(e, in[0], in[1], width, rows, out, rows * width >= kParallelElements);
      break;
    }
    case OpKind::ScatterAdd: {
      int64_t width = outShape[1];
      e.zero(out, outElements);
      e.loop(numElements(shapeOf(0)), [&](Value* row) {
        Value* to = b.CreateMul(e.loadId(in[0], row), e.index(width));
        Value* from = b.CreateMul(row, e.index(width));
        e.loop(width, [&](Value* j) {
          Value* target = b.CreateAdd(to, j);
          Value* sum = b.CreateFAdd(e.load(out, target), e.load(in[1], b.CreateAdd(from, j)));
          e.store(sum, out, target);
        });
      });
      break;
    }
    case OpKind::MatMul: {
      bool transposeA = attributes.getInt("transpose_a", 0) != 0;
      bool transposeB = attributes.getInt("transpose_b", 0) != 0;
      int64_t k = transposeA ? shapeOf(0)[0] : shapeOf(0)[1];
      if (tiledMatMul_ && useTiledMatMul(outShape[1], transposeA, transposeB)) {
        TiledProduct{outShape[0], k, outShape[1], transposeA}.emit(e, {in[0], in[1], out});
        break;
      }
      if (tiledMatMul_ && useDotProduct(k, transposeA, transposeB)) {
        DotProduct{outShape[0], k, outShape[1]}.emit(e, in[0], in[1], out);
        break;
      }
      // BLAS on the calling thread only: OpenBLAS serializes calls from several threads.
      constexpr int kRowMajor = 101, kNoTranspose = 111, kTranspose = 112;
      b.CreateCall(
          sgemm(module_),
          {b.getInt32(kRowMajor), b.getInt32(transposeA ? kTranspose : kNoTranspose),
           b.getInt32(transposeB ? kTranspose : kNoTranspose),
           b.getInt32(static_cast<int32_t>(outShape[0])),
           b.getInt32(static_cast<int32_t>(outShape[1])), b.getInt32(static_cast<int32_t>(k)),
           e.constant(1.0), in[0], b.getInt32(static_cast<int32_t>(shapeOf(0)[1])), in[1],
           b.getInt32(static_cast<int32_t>(shapeOf(1)[1])), e.constant(0.0), out,
           b.getInt32(static_cast<int32_t>(outShape[1]))});
      break;
    }
    case OpKind::FusedMatMulAdd: {
      int64_t m = outShape[0], k = shapeOf(0)[1], n = outShape[1];
      Value* bias = op.operands.size() == 4 ? in[3] : nullptr;
      int64_t panelWidth = shapeOf(1).size() == 3 ? shapeOf(1)[2] : 0;
      if (tiledMatMul_ && useTiledMatMul(n, false, false) && panelWidth % 16 == 0) {
        TiledProduct product{m, k, n, false};
        product.panelWidth = panelWidth;
        product.emit(e, {in[0], in[1], out, nullptr, in[2], bias});
        break;
      }
      // BLAS adds the product to C, which starts as the addend and the bias.
      e.loop(m, [&](Value* row) {
        Value* first = b.CreateMul(row, e.index(n));
        e.loop(n, [&](Value* column) {
          Value* at = b.CreateAdd(first, column);
          Value* start = e.load(in[2], at);
          if (bias) start = b.CreateFAdd(start, e.load(bias, column));
          e.store(start, out, at);
        });
      });
      if (panelWidth == 0) {
        callSgemm(e, module_, false, false, m, n, k, in[0], k, in[1], n, e.constant(1.0), out, n);
        break;
      }
      for (int64_t first = 0; first < n; first += panelWidth) {
        Value* panel = e.at(in[1], e.index(first * k));
        callSgemm(e, module_, false, false, m, panelWidth, k, in[0], k, panel, panelWidth,
                  e.constant(1.0), e.at(out, e.index(first)), n);
      }
      break;
    }
    case OpKind::ReduceSum: {
      Shape kept = shapeOf(0);
      for (int64_t axis : attributes.getInts("axes")) kept[normalizedAxis(axis, kept.size())] = 1;
      e.zero(out, outElements);
      e.nest(shapeOf(0), {stridesOf(shapeOf(0)), broadcastStrides(kept, shapeOf(0))}, {0, 0},
             [&](const auto& offsets) {
               Value* sum = b.CreateFAdd(e.load(out, offsets[1]), e.load(in[0], offsets[0]));
               e.store(sum, out, offsets[1]);
             });
      break;
    }
    case OpKind::BroadcastTo:
      e.nest(outShape, {stridesOf(outShape), broadcastStrides(shapeOf(0), outShape)}, {0, 0},
             [&](const auto& offsets) { e.store(e.load(in[0], offsets[1]), out, offsets[0]); });
      break;
    case OpKind::Reshape: e.copy(out, in[0], outElements); break;
    case OpKind::Transpose: {
      const Shape& permutation = attributes.getInts("permutation");
      Shape inStrides = stridesOf(shapeOf(0));
      Shape permuted;
      for (int64_t axis : permutation) permuted.push_back(inStrides[axis]);
      e.nest(outShape, {stridesOf(outShape), permuted}, {0, 0},
             [&](const auto& offsets) { e.store(e.load(in[0], offsets[1]), out, offsets[0]); });
      break;
    }
    case OpKind::Slice: {
      int64_t axis = normalizedAxis(attributes.getInt("axis"), outShape.size());
      copyBlock(e, out, in[0], outShape, shapeOf(0), axis, attributes.getInt("start"), false);
      break;
    }
    case OpKind::Pad: {
      int64_t axis = normalizedAxis(attributes.getInt("axis"), outShape.size());
      e.zero(out, outElements);
      copyBlock(e, in[0], out, shapeOf(0), outShape, axis, attributes.getInt("before"), true);
      break;
    }
    case OpKind::Concat: {
      int64_t axis = normalizedAxis(attributes.getInt("axis"), outShape.size());
      int64_t start = 0;
      for (size_t k = 0; k < op.operands.size(); ++k) {
        copyBlock(e, in[k], out, shapeOf(k), outShape, axis, start, true);
        start += shapeOf(k)[axis];
      }
      break;
    }
    case OpKind::BinaryCrossEntropy:
    case OpKind::BinaryCrossEntropyGrad: {
      int64_t count = numElements(shapeOf(0));
      CrossEntropy crossEntropy{e};
      if (op.kind == OpKind::BinaryCrossEntropy) {
        // Accumulates in memory: the sum runs in element order, as in the reference.
        b.CreateStore(e.constant(0.0), out);
        e.loop(count, [&](Value* i) {
          Value* term = crossEntropy.term(e.load(in[0], i), e.load(in[1], i));
          b.CreateStore(b.CreateFSub(b.CreateLoad(e.f32(), out), term), out);
        });
        b.CreateStore(b.CreateFDiv(b.CreateLoad(e.f32(), out), e.constant(double(count))), out);
      } else {
        Value* scale = b.CreateFDiv(b.CreateLoad(e.f32(), in[2]), e.constant(double(count)));
        e.loop(count, [&](Value* i) {
          e.store(crossEntropy.gradient(e.load(in[0], i), e.load(in[1], i), scale), out, i);
        });
      }
      break;
    }
    case OpKind::FusedLstmCell:
    case OpKind::FusedLstmCellGrad: {
      auto activation = static_cast<ir::Activation>(attributes.getInt("activation"));
      auto recurrent = static_cast<ir::Activation>(attributes.getInt("recurrent_activation"));
      int64_t batch = shapeOf(1)[0], units = shapeOf(1)[1];
      bool backward = op.kind == OpKind::FusedLstmCellGrad;
      // Rows [begin, end) of the batch, from the kernel's pointers `in` and the result's two
      // blocks last: h and c, or dz and dc. Passed apart, the vectorizer knows they are.
      auto cellRows = [&](Emitter& e, const std::vector<Value*>& in, Value* begin, Value* end) {
        auto& b = e.b();
        Value* out = in[in.size() - 2];
        Value* cellOut = in.back();
        e.loopRange(begin, end, [&](Value* row) {
          Value* gates = b.CreateMul(row, e.index(4 * units));
          Value* stateRow = b.CreateMul(row, e.index(units));
          e.loop(units, backward ? 0 : kCellInterleave, [&](Value* unit) {
            Value* state = b.CreateAdd(stateRow, unit);
            auto gate = [&](int64_t index) {
              return e.load(in[0], b.CreateAdd(gates, b.CreateAdd(unit, e.index(index * units))));
            };
            Value *zi = gate(0), *zf = gate(1), *zc = gate(2), *zo = gate(3);
            Value* i = e.activate(recurrent, zi);
            Value* f = e.activate(recurrent, zf);
            Value* g = e.activate(activation, zc);
            Value* o = e.activate(recurrent, zo);
            Value* c = e.load(in[1], state);
            Value* next = b.CreateFAdd(b.CreateFMul(f, c), b.CreateFMul(i, g));
            Value* squashed = e.activate(activation, next);
            if (!backward) {
              e.store(b.CreateFMul(o, squashed), out, state);
              e.store(next, cellOut, state);
              return;
            }
            auto storeGate = [&](Value* value, int64_t index) {
              e.store(value, out, b.CreateAdd(gates, b.CreateAdd(unit, e.index(index * units))));
            };
            Value* dh = e.load(in[2], state);
            Value* dnext = b.CreateFAdd(
                e.load(in[2], b.CreateAdd(e.index(batch * units), state)),
                b.CreateFMul(b.CreateFMul(dh, o), e.derivative(activation, next, squashed)));
            storeGate(b.CreateFMul(b.CreateFMul(dnext, g), e.derivative(recurrent, zi, i)), 0);
            storeGate(b.CreateFMul(b.CreateFMul(dnext, c), e.derivative(recurrent, zf, f)), 1);
            storeGate(b.CreateFMul(b.CreateFMul(dnext, i), e.derivative(activation, zc, g)), 2);
            storeGate(b.CreateFMul(b.CreateFMul(dh, squashed), e.derivative(recurrent, zo, o)), 3);
            e.store(b.CreateFMul(dnext, f), cellOut, state);
          });
        });
      };
      std::vector<Value*> pointers = in;
      pointers.push_back(e.at(in.back(), e.index((backward ? 4 : 1) * batch * units)));
      // Rows shared out over the pool when there are enough of them to pay for it.
      if (batch * units >= kParallelCellElements)
        emitParallel(e, pointers, batch, cellRows);
      else
        cellRows(e, pointers, e.index(0), e.index(batch));
      break;
    }
    case OpKind::FusedDotDense: {
      auto activation = static_cast<ir::Activation>(attributes.getInt("activation"));
      int64_t batch = shapeOf(0)[0], width = shapeOf(0)[1], units = outShape[1];
      llvm::Value* sum = b.CreateAlloca(e.f32());
      e.loop(batch, [&](Value* row) {
        Value* dot = rowDot(e, in[0], in[1], row, width, sum);
        e.loop(units, [&](Value* n) {
          Value* preactivation =
              b.CreateFAdd(b.CreateFMul(dot, e.load(in[2], n)), e.load(in[3], n));
          e.store(e.activate(activation, preactivation), out,
                  b.CreateAdd(b.CreateMul(row, e.index(units)), n));
        });
      });
      break;
    }
    case OpKind::FusedDotDenseLossGrad:
      emitDotDenseLossGrad(e, op, in, out, {shapeOf(0)[0], shapeOf(0)[1], shapeOf(2)[1]});
      break;
    case OpKind::FusedGatherMatMul:
    case OpKind::FusedMatMulScatterAdd:
      emitFusedGather(e, module_, op, in, out, shapeOf, outShape, tiledMatMul_);
      break;
    case OpKind::AdamUpdate: {
      // In chunks of 1024 elements, shared out over the pool when the tensor is large.
      constexpr int64_t kChunk = 1024;
      int64_t total = numElements(shapeOf(0));
      int64_t chunks = total >= kParallelElements ? (total + kChunk - 1) / kChunk : 1;
      emitParallel(e, {in[0], in[1], in[2], in[3], in[4]}, chunks,
                   [&](Emitter& pe, const std::vector<Value*>& p, Value* begin, Value* end) {
                     auto& pb = pe.b();
                     AdamStep adam = adamStep(pe, attributes, pb.CreateLoad(pe.f32(), p[4]));
                     Value* first = pb.CreateMul(begin, pe.index(total / chunks));
                     Value* last = pb.CreateMul(end, pe.index(total / chunks));
                     if (total % chunks != 0) {
                       first = pb.CreateMul(begin, pe.index(kChunk));
                       last = pb.CreateBinaryIntrinsic(llvm::Intrinsic::smin,
                                                       pb.CreateMul(end, pe.index(kChunk)),
                                                       pe.index(total));
                     }
                     pe.loopRange(first, last, [&](Value* i) {
                       adamElement(pe, adam, p[0], p[2], p[3], i, pe.load(p[1], i));
                     });
                   });
      break;
    }
    case OpKind::SparseGradient: {
      int64_t rows = attributes.getInt("rows"), width = shapeOf(1).back();
      int64_t capacity = (outShape[0] - rows - 1) / (1 + width);
      e.loop(rows, [&](Value* row) { e.store(e.constant(-1.0), out, row); });
      llvm::AllocaInst* count = b.CreateAlloca(b.getInt64Ty());
      b.CreateStore(e.index(0), count);
      Value* values = b.CreateInBoundsGEP(e.f32(), out, e.index(rows + 1 + capacity));
      for (size_t pair = 0; pair < op.operands.size(); pair += 2) {
        Value* ids = in[pair];
        Value* updates = in[pair + 1];
        e.loop(numElements(shapeOf(pair)), [&](Value* i) {
          Value* id = e.loadId(ids, i);
          // A row seen for the first time takes the next slot, with a zero sum.
          e.branch(
              b.CreateFCmpOLT(e.load(out, id), e.constant(0.0)),
              [&] {
                Value* slot = b.CreateLoad(b.getInt64Ty(), count);
                e.store(e.floatFromIndex(slot), out, id);
                e.store(e.floatFromIndex(id), out, b.CreateAdd(e.index(rows + 1), slot));
                Value* start = b.CreateMul(slot, e.index(width));
                e.loop(width,
                       [&](Value* j) { e.store(e.constant(0.0), values, b.CreateAdd(start, j)); });
                b.CreateStore(b.CreateAdd(slot, e.index(1)), count);
              },
              [] {});
          Value* start = b.CreateMul(e.indexFromFloat(e.load(out, id)), e.index(width));
          Value* from = b.CreateMul(i, e.index(width));
          e.loop(width, [&](Value* j) {
            Value* target = b.CreateAdd(start, j);
            Value* sum =
                b.CreateFAdd(e.load(values, target), e.load(updates, b.CreateAdd(from, j)));
            e.store(sum, values, target);
          });
        });
      }
      e.store(e.floatFromIndex(b.CreateLoad(b.getInt64Ty(), count)), out, e.index(rows));
      break;
    }
    case OpKind::AdamUpdateRows: {
      int64_t rows = shapeOf(0)[0], width = shapeOf(0)[1];
      int64_t capacity = (shapeOf(1)[0] - rows - 1) / (1 + width);
      bool lazy = attributes.getInt("lazy", 0) != 0;
      // Exact: every row, in parts of the table. Lazy: the touched rows, in parts of the slots
      // (as many as the batch has ids; those past the count are skipped).
      emitParallel(
          e, {in[0], in[1], in[2], in[3], in[4]}, lazy ? capacity : rows,
          [&](Emitter& pe, const std::vector<Value*>& p, Value* begin, Value* end) {
            auto& pb = pe.b();
            AdamStep adam = adamStep(pe, attributes, pb.CreateLoad(pe.f32(), p[4]));
            Value* values = pb.CreateInBoundsGEP(pe.f32(), p[1], pe.index(rows + 1 + capacity));
            // One row, from its gradient row (slot), or from a zero gradient (no slot).
            auto updateRow = [&](Value* row, Value* slot) {
              Value* start = pb.CreateMul(row, pe.index(width));
              Value* from = slot ? pb.CreateMul(slot, pe.index(width)) : nullptr;
              pe.loop(width, [&](Value* j) {
                Value* g = slot ? pe.load(values, pb.CreateAdd(from, j)) : pe.constant(0.0);
                adamElement(pe, adam, p[0], p[2], p[3], pb.CreateAdd(start, j), g);
              });
            };
            if (lazy) {
              Value* touched = pe.indexFromFloat(pe.load(p[1], pe.index(rows)));
              Value* last = pb.CreateBinaryIntrinsic(llvm::Intrinsic::smin, end, touched);
              pe.loopRange(begin, last, [&](Value* slot) {
                updateRow(pe.indexFromFloat(pe.load(p[1], pb.CreateAdd(pe.index(rows + 1), slot))),
                          slot);
              });
              return;
            }
            pe.loopRange(begin, end, [&](Value* row) {
              Value* slot = pe.indexFromFloat(pe.load(p[1], row));
              pe.branch(
                  pb.CreateICmpSGE(slot, pe.index(0)), [&] { updateRow(row, slot); },
                  [&] { updateRow(row, nullptr); });
            });
          });
      break;
    }
    case OpKind::SgdUpdate: {
      Value* rate = e.constant(attributes.getFloat("learning_rate"));
      Value* momentum = e.constant(attributes.getFloat("momentum"));
      bool nesterov = attributes.getInt("nesterov") != 0;
      e.loop(numElements(shapeOf(0)), [&](Value* i) {
        Value* step = b.CreateFMul(rate, e.load(in[1], i));
        Value* velocity = b.CreateFSub(b.CreateFMul(momentum, e.load(in[2], i)), step);
        Value* change = nesterov ? b.CreateFSub(b.CreateFMul(momentum, velocity), step) : velocity;
        e.store(velocity, in[2], i);
        e.store(b.CreateFAdd(e.load(in[0], i), change), in[0], i);
      });
      break;
    }
    case OpKind::Assign: e.copy(in[0], in[1], numElements(shapeOf(0))); break;
    default: fail("codegen: no kernel for {}", ir::opName(op.kind));
  }
  b.CreateRetVoid();
}

}  // namespace dlc::codegen
