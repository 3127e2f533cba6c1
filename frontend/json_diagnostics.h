// Errors in a model's JSON text, told in the words of the model: which layer, which field, and
// what the schema expects there. FlatBuffers' parser only gives a line, a column and a message.
#pragma once

#include <flatbuffers/idl.h>

#include <string>

namespace dlc {

/// Turns the parser's error ("18: 46: error: unknown field: colour") about `text` into
/// "line 18, layer 'lstm', field lstm.colour: unknown field: colour (LSTMOptions has units,
/// activation, ...)". `schema` is the parser that failed; what cannot be located is left out.
std::string describeJsonError(const flatbuffers::Parser& schema, const std::string& text);

}  // namespace dlc
