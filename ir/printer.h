// The textual form of the IR: stable (same graph, same text), readable, and diffable.
#pragma once

#include <string>

#include "ir/graph.h"

namespace dlc::ir {

/// The whole graph:
///
///   graph quora_siamese {
///     input %input_question1 : i32[64, 20]
///     weight %embedding/embeddings : f32[50002, 128] trainable
///     %3 = gather(%embedding/embeddings, %input_question1) : f32[64, 20, 128]  # embedding
///     output dense = %41
///   }
///
/// Results are numbered in order of appearance, so the text does not depend on the value ids
/// that passes happened to leave behind.
std::string printGraph(const Graph& graph);

}  // namespace dlc::ir
