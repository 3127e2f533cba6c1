// Mutated FlatBuffers inputs almost never keep a matching checksum, so the fuzzer would test
// little beyond the checksum check. The binary targets seal each input again first (when the
// verifier accepts it and it stores a checksum), so that mutations reach the readers behind it.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "schema/checksum.h"
#include "schema/dlc_compiled_generated.h"
#include "schema/dlc_model_generated.h"

namespace dlc::fuzz {

inline void resealModel(std::span<std::byte> bytes) {
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (!schema::VerifyModelBuffer(verifier)) return;
  if (schema::rootFieldPosition(bytes, schema::Model::VT_CHECKSUM))
    schema::sealChecksum(bytes, schema::Model::VT_CHECKSUM);
}

/// Seals the model a compiled graph carries, then the compiled graph.
inline void resealCompiledGraph(std::span<std::byte> bytes) {
  auto* start = reinterpret_cast<uint8_t*>(bytes.data());
  flatbuffers::Verifier verifier(start, bytes.size());
  if (!schema::VerifyCompiledGraphBuffer(verifier)) return;
  if (const auto* model = schema::GetCompiledGraph(start)->model()) {
    size_t offset = static_cast<size_t>(model->data() - start);
    resealModel(bytes.subspan(offset, model->size()));
  }
  if (schema::rootFieldPosition(bytes, schema::CompiledGraph::VT_CHECKSUM))
    schema::sealChecksum(bytes, schema::CompiledGraph::VT_CHECKSUM);
}

}  // namespace dlc::fuzz
