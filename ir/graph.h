// The IR: a typed tensor graph in SSA form. Values are graph inputs, weights, persistent state or
// op results; ops are kept in execution (topological) order.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "ir/attributes.h"
#include "ir/ops.h"

namespace dlc::ir {

using ValueId = int32_t;
inline constexpr ValueId kNoValue = -1;

enum class ValueKind : uint8_t {
  Input,   // fed by the caller on every run (token ids, labels)
  Weight,  // a model parameter, kept between runs
  State,   // other persistent storage: optimizer slots, the step counter
  Result,  // produced by an op
};

struct Value {
  ValueKind kind = ValueKind::Result;
  Type type;
  std::string name;  // for inputs, weights and state: how callers bind them
  bool trainable = false;
};

struct Op {
  OpKind kind = OpKind::Fill;
  std::vector<ValueId> operands;
  ValueId result = kNoValue;  // kNoValue for ops with side effects
  Attributes attributes;
  std::string origin;  // the layer (or pass) this op came from, for dumps and errors
};

/// A named graph result, such as a model output or the loss.
struct GraphOutput {
  std::string name;
  ValueId value;
};

class Graph {
 public:
  explicit Graph(std::string name = "graph") : name_(std::move(name)) {}

  ValueId addInput(const std::string& name, Type type);
  ValueId addWeight(const std::string& name, Type type, bool trainable);
  ValueId addState(const std::string& name, Type type);

  /// Appends an op after the others, infers its result type, and returns its result
  /// (kNoValue for ops with side effects). A shape that does not fit throws dlc::Error.
  ValueId addOp(OpKind kind, std::vector<ValueId> operands, Attributes attributes = {},
                std::string origin = {});

  void addOutput(const std::string& name, ValueId value) { outputs_.push_back({name, value}); }

  const std::string& name() const { return name_; }
  /// References to values and their types stay valid while values are added, so code building
  /// ops may hold a shape across addOp (values live in a deque, which does not move them).
  const Value& value(ValueId id) const { return values_[id]; }
  Value& mutableValue(ValueId id) { return values_[id]; }
  const Type& type(ValueId id) const { return values_[id].type; }
  int32_t valueCount() const { return static_cast<int32_t>(values_.size()); }

  const std::vector<Op>& ops() const { return ops_; }
  /// For passes: ops may be rewritten, removed or reordered as long as the order stays
  /// topological and ops with side effects keep their relative order.
  std::vector<Op>& mutableOps() { return ops_; }
  const std::vector<GraphOutput>& outputs() const { return outputs_; }
  std::vector<GraphOutput>& mutableOutputs() { return outputs_; }

  /// The value bound under `name` (input, weight or state), or kNoValue.
  ValueId findNamed(const std::string& name) const;
  /// The output called `name`, or kNoValue.
  ValueId findOutput(const std::string& name) const;

  /// Values of a kind, in creation order.
  std::vector<ValueId> valuesOfKind(ValueKind kind) const;

  /// A new result value for passes that build ops by hand.
  ValueId newResult(Type type);

 private:
  ValueId addNamed(ValueKind kind, const std::string& name, Type type, bool trainable);

  std::string name_;
  std::deque<Value> values_;
  std::vector<Op> ops_;
  std::vector<GraphOutput> outputs_;
};

/// Index of the op producing each value (-1 for non-results), by value id.
std::vector<int32_t> producerIndex(const Graph& graph);

/// Number of uses of each value, by value id, counting graph outputs as uses.
std::vector<int32_t> useCounts(const Graph& graph);

/// Indices of the ops reading each value, by value id.
std::vector<std::vector<int32_t>> usersOf(const Graph& graph);

/// Which ops (by index) depend on weights alone, in a graph that never changes its weights (one
/// without ops that have side effects, such as an inference graph): executors run them once each
/// time weights are bound, not on every run, and keep their results. Ops without operands
/// (fills) are not among them.
std::vector<bool> weightOnlyOps(const Graph& graph);

/// Makes every op and output that reads `from` read `to` instead.
void replaceAllUses(Graph& graph, ValueId from, ValueId to);

/// Puts the ops back in an order where every op comes after the producers of its operands,
/// moving as little as it can: for passes that append ops which earlier ops now read. Ops with
/// side effects keep their order.
void reorderTopologically(Graph& graph);

}  // namespace dlc::ir
