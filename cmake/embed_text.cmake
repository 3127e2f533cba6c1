# Writes the text of INPUT into OUTPUT, a C++ header defining the string constant NAMESPACE::NAME.
# The text must not contain the raw-string delimiter `)dlcembedded"`.
file(READ ${INPUT} text)
get_filename_component(input_name ${INPUT} NAME)
file(WRITE ${OUTPUT} "// Generated from ${input_name} by cmake/embed_text.cmake.\n#pragma once\n")
file(APPEND ${OUTPUT} "namespace ${NAMESPACE} {\n")
file(APPEND ${OUTPUT} "inline constexpr const char ${NAME}[] =\n")
file(APPEND ${OUTPUT} "    R\"dlcembedded(${text})dlcembedded\";\n")
file(APPEND ${OUTPUT} "}  // namespace ${NAMESPACE}\n")
