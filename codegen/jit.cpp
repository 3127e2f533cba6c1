#include "codegen/jit.h"

#include <cblas.h>
#include <fmt/format.h>
#include <llvm/Analysis/CGSCCPassManager.h>
#include <llvm/Analysis/LoopAnalysisManager.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

#include "codegen/kernel_emitter.h"
#include "codegen/thread_pool.h"
#include "support/error.h"

namespace dlc::codegen {

namespace {

using EntryFunction = void (*)(std::byte* arena, void* const* externals);

void initializeLlvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

template <typename T>
T orFail(llvm::Expected<T> value, const char* what) {
  if (!value) fail("codegen: {}: {}", what, llvm::toString(value.takeError()));
  return std::move(*value);
}

void orFail(llvm::Error error, const char* what) {
  if (error) fail("codegen: {}: {}", what, llvm::toString(std::move(error)));
}

/// The names of the two entries: the ops on weights alone (run when weights are bound) and the
/// others (run on every run).
constexpr const char* kBindEntry = "dlc_graph_bind";
constexpr const char* kRunEntry = "dlc_graph";

/// An entry: one call per op whose weightOnlyOps flag is `weightOnly`, with pointers into the
/// arena or to the externals; with `profile`, a timing mark after each.
void emitEntry(llvm::Module& module, KernelEmitter& kernels, const ir::Graph& graph,
               const MemoryPlan& plan, const std::vector<int32_t>& externalIndex, bool weightOnly,
               bool profile) {
  llvm::LLVMContext& context = module.getContext();
  auto* ptr = llvm::PointerType::get(context, 0);
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(context), {ptr, ptr}, false);
  auto* entry = llvm::Function::Create(type, llvm::Function::ExternalLinkage,
                                       weightOnly ? kBindEntry : kRunEntry, module);
  llvm::IRBuilder<> builder(llvm::BasicBlock::Create(context, "entry", entry));
  llvm::Value* arena = entry->getArg(0);
  llvm::Value* externals = entry->getArg(1);

  auto pointerTo = [&](ir::ValueId value) -> llvm::Value* {
    if (plan.offsets[value] >= 0)
      return builder.CreateInBoundsGEP(builder.getInt8Ty(), arena,
                                       builder.getInt64(plan.offsets[value]));
    llvm::Value* slot =
        builder.CreateInBoundsGEP(ptr, externals, builder.getInt64(externalIndex[value]));
    return builder.CreateLoad(ptr, slot);
  };

  llvm::FunctionCallee mark;
  if (profile) {
    mark = module.getOrInsertFunction(
        "dlc_profile_mark",
        llvm::FunctionType::get(builder.getVoidTy(), {builder.getInt32Ty()}, false));
    builder.CreateCall(mark, {builder.getInt32(-1)});
  }

  std::vector<bool> weightOnlyOps = ir::weightOnlyOps(graph);
  for (size_t index = 0; index < graph.ops().size(); ++index) {
    if (weightOnlyOps[index] != weightOnly) continue;
    const ir::Op& op = graph.ops()[index];
    if (isView(graph, op, plan)) continue;
    std::vector<llvm::Value*> arguments;
    for (ir::ValueId operand : op.operands) arguments.push_back(pointerTo(operand));
    if (op.result != ir::kNoValue) arguments.push_back(pointerTo(op.result));
    builder.CreateCall(kernels.kernelFor(op), arguments);
    if (profile) builder.CreateCall(mark, {builder.getInt32(static_cast<int32_t>(index))});
  }
  builder.CreateRetVoid();
}

void optimize(llvm::Module& module, llvm::TargetMachine& machine) {
  llvm::LoopAnalysisManager loops;
  llvm::FunctionAnalysisManager functions;
  llvm::CGSCCAnalysisManager sccs;
  llvm::ModuleAnalysisManager modules;
  llvm::PassBuilder passes(&machine);
  passes.registerModuleAnalyses(modules);
  passes.registerCGSCCAnalyses(sccs);
  passes.registerFunctionAnalyses(functions);
  passes.registerLoopAnalyses(loops);
  passes.crossRegisterProxies(loops, functions, sccs, modules);
  // O2: O3 took a fifth longer to compile the training step (unrolling more, which then costs
  // instruction selection too) for kernels no faster, whose loops the emitter already shapes.
  passes.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2).run(module, modules);
}

std::string emitFile(llvm::Module& module, llvm::TargetMachine& machine,
                     llvm::CodeGenFileType kind) {
  llvm::SmallString<0> text;
  llvm::raw_svector_ostream stream(text);
  llvm::legacy::PassManager passes;
  if (machine.addPassesToEmitFile(passes, stream, nullptr, kind))
    fail("codegen: this target cannot emit code");
  passes.run(module);
  return std::string(text.str());
}

/// The calling thread's CPU time in seconds: on a shared machine, wall time would also charge
/// an op with the time other processes ran.
double threadCpuSeconds() {
  timespec time{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time);
  return static_cast<double>(time.tv_sec) + 1e-9 * static_cast<double>(time.tv_nsec);
}

/// Called by profiled entries after each op (and with -1 before the first): charges the CPU
/// time of the calling thread since the previous call to `op`.
extern "C" void dlc_profile_mark(int32_t op) {
  static double last = 0;
  double now = threadCpuSeconds();
  if (op >= 0) {
    std::vector<double>& seconds = opProfile();
    if (seconds.size() <= static_cast<size_t>(op)) seconds.resize(op + 1);
    seconds[op] += now - last;
  }
  last = threadCpuSeconds();
}

/// Helpers the generated code calls, defined explicitly so that no lookup depends on what
/// the process happens to export.
llvm::orc::SymbolMap runtimeSymbols(llvm::orc::LLJIT& jit) {
  llvm::orc::SymbolMap symbols;
  auto add = [&](const char* name, auto* address) {
    symbols[jit.mangleAndIntern(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                                          llvm::JITSymbolFlags::Exported};
  };
  add("cblas_sgemm", &cblas_sgemm);
  add("logf", static_cast<float (*)(float)>(&::logf));
  add("expf", static_cast<float (*)(float)>(&::expf));
  add("powf", static_cast<float (*)(float, float)>(&::powf));
  add("sqrtf", static_cast<float (*)(float)>(&::sqrtf));
  add("memset", &::memset);
  add("memcpy", &::memcpy);
  add("dlc_profile_mark", &dlc_profile_mark);
  add("dlc_parallel_for", &dlc_parallel_for);
  return symbols;
}

}  // namespace

struct CompiledGraph::Impl {
  MemoryPlan plan;
  std::vector<ir::ValueId> externals;
  std::unique_ptr<llvm::orc::LLJIT> jit;
  EntryFunction entry = nullptr, bind = nullptr;
  std::string llvmIr, assembly, objectCode;
  double compileSeconds = 0;

  /// Inputs, weights and state, in value order: the order of the entry's pointer table.
  void listExternals(const ir::Graph& graph) {
    for (ir::ValueId id = 0; id < graph.valueCount(); ++id)
      if (graph.value(id).kind != ir::ValueKind::Result) externals.push_back(id);
  }

  /// Links `objectCode` into a JIT of its own and finds the entry.
  void link(llvm::orc::JITTargetMachineBuilder machineBuilder) {
    jit = orFail(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(machineBuilder).create(),
                 "creating the JIT");
    orFail(jit->getMainJITDylib().define(llvm::orc::absoluteSymbols(runtimeSymbols(*jit))),
           "defining runtime symbols");
    auto buffer = llvm::MemoryBuffer::getMemBufferCopy(objectCode, "dlc_graph.o");
    orFail(jit->addObjectFile(std::move(buffer)), "linking the object code");
    entry = orFail(jit->lookup(kRunEntry), "looking up the entry").toPtr<EntryFunction>();
    bind = orFail(jit->lookup(kBindEntry), "looking up the entry").toPtr<EntryFunction>();
  }
};

CompiledGraph::CompiledGraph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CompiledGraph::~CompiledGraph() = default;

std::unique_ptr<CompiledGraph> CompiledGraph::compile(const ir::Graph& graph,
                                                      const JitOptions& options) {
  auto start = std::chrono::steady_clock::now();
  initializeLlvm();
  auto impl = std::make_unique<Impl>();
  impl->plan = planMemory(graph, options.reuseMemory);
  verifyMemoryPlan(graph, impl->plan);
  impl->listExternals(graph);
  std::vector<int32_t> externalIndex(graph.valueCount(), -1);
  for (size_t index = 0; index < impl->externals.size(); ++index)
    externalIndex[impl->externals[index]] = static_cast<int32_t>(index);

  // The target machine comes from the host, so the vectorizers see the real CPU.
  auto machineBuilder = orFail(llvm::orc::JITTargetMachineBuilder::detectHost(), "host CPU");
  machineBuilder.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto machine = orFail(machineBuilder.createTargetMachine(), "target machine");

  llvm::LLVMContext context;
  llvm::Module module(graph.name(), context);
  module.setDataLayout(machine->createDataLayout());
  module.setTargetTriple(machine->getTargetTriple().str());
  KernelEmitter kernels(module, graph, options.tiledMatMul);
  for (bool weightOnly : {true, false})
    emitEntry(module, kernels, graph, impl->plan, externalIndex, weightOnly, options.profile);
  std::string problems;
  llvm::raw_string_ostream problemStream(problems);
  if (llvm::verifyModule(module, &problemStream))
    fail("codegen: the generated LLVM IR is invalid: {}", problems);

  // Set on every function, so that the optimizer and the code generator target the host.
  for (llvm::Function& function : module) {
    if (function.isDeclaration()) continue;
    function.addFnAttr("target-cpu", machine->getTargetCPU());
    function.addFnAttr("target-features", machine->getTargetFeatureString());
  }
  optimize(module, *machine);
  if (options.keepText) {
    llvm::raw_string_ostream stream(impl->llvmIr);
    module.print(stream, nullptr);
    impl->assembly = emitFile(module, *machine, llvm::CodeGenFileType::AssemblyFile);
  }
  impl->objectCode = emitFile(module, *machine, llvm::CodeGenFileType::ObjectFile);
  impl->link(machineBuilder);
  impl->compileSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::unique_ptr<CompiledGraph>(new CompiledGraph(std::move(impl)));
}

std::unique_ptr<CompiledGraph> CompiledGraph::load(const ir::Graph& graph, MemoryPlan plan,
                                                   const std::string& objectCode) {
  auto start = std::chrono::steady_clock::now();
  initializeLlvm();
  if (static_cast<int32_t>(plan.offsets.size()) != graph.valueCount())
    fail("the memory plan does not fit the graph");
  verifyMemoryPlan(graph, plan);
  plan.persistentBytes = persistentBytes(graph, plan);
  auto impl = std::make_unique<Impl>();
  impl->plan = std::move(plan);
  impl->listExternals(graph);
  impl->objectCode = objectCode;
  impl->link(orFail(llvm::orc::JITTargetMachineBuilder::detectHost(), "host CPU"));
  impl->compileSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::unique_ptr<CompiledGraph>(new CompiledGraph(std::move(impl)));
}

const MemoryPlan& CompiledGraph::memoryPlan() const { return impl_->plan; }
const std::vector<ir::ValueId>& CompiledGraph::externalValues() const { return impl_->externals; }
void CompiledGraph::run(std::byte* arena, void* const* externals) const {
  impl_->entry(arena, externals);
}
void CompiledGraph::bindWeights(std::byte* arena, void* const* externals) const {
  impl_->bind(arena, externals);
}
const std::string& CompiledGraph::llvmIr() const { return impl_->llvmIr; }
const std::string& CompiledGraph::assembly() const { return impl_->assembly; }
const std::string& CompiledGraph::objectCode() const { return impl_->objectCode; }
double CompiledGraph::compileSeconds() const { return impl_->compileSeconds; }

std::vector<double>& opProfile() {
  static std::vector<double> seconds;
  return seconds;
}

bool poisonArenaByDefault() {
#ifndef NDEBUG
  return true;
#else
  return std::getenv("DLC_POISON_ARENA") != nullptr;
#endif
}

void setThreadCount(int threads) {
  // The kernels share their work out over the pool; BLAS, called inside their parts, stays on
  // the thread that calls it (its own threads cost more to wake than these products take).
  openblas_set_num_threads(1);
  setPoolThreads(threads);
}

std::string hostCpuDescription() {
  std::string features;
  for (const auto& feature : llvm::sys::getHostCPUFeatures())
    if (feature.second) features += (features.empty() ? "+" : ",+") + feature.first().str();
  return fmt::format("{} {}", llvm::sys::getHostCPUName().str(), features);
}

}  // namespace dlc::codegen
