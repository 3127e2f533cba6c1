// Structural and type checks of a graph; passes run it between each other in debug builds.
#pragma once

#include "ir/graph.h"

namespace dlc::ir {

/// Throws dlc::Error naming the first problem: an operand used before it is defined or
/// defined twice, a wrong operand count, a result type that its shape rule disagrees with,
/// a side-effect op writing into something other than a weight or state, a dangling output.
void verifyGraph(const Graph& graph);

}  // namespace dlc::ir
