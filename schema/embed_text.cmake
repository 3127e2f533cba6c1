# Writes the text of INPUT into OUTPUT as a C++ string constant.
file(READ ${INPUT} text)
file(WRITE ${OUTPUT} "// Generated from dlc_model.fbs by embed_text.cmake.\n#pragma once\n")
file(APPEND ${OUTPUT} "namespace dlc::schema {\ninline constexpr const char kSchemaText[] = R\"dlcschema(")
file(APPEND ${OUTPUT} "${text}")
file(APPEND ${OUTPUT} ")dlcschema\";\n}  // namespace dlc::schema\n")
