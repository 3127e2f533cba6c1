# dlc_embed_text(INPUT OUTPUT NAMESPACE NAME): at build time, OUTPUT becomes a C++ header that
# defines the text of INPUT as the string constant NAMESPACE::NAME (see embed_text.cmake).
set(DLC_EMBED_TEXT_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_text.cmake)

function(dlc_embed_text input output namespace name)
  file(RELATIVE_PATH shown ${CMAKE_SOURCE_DIR} ${input})
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${input} -DOUTPUT=${output} -DNAMESPACE=${namespace}
            -DNAME=${name} -P ${DLC_EMBED_TEXT_SCRIPT}
    DEPENDS ${input} ${DLC_EMBED_TEXT_SCRIPT}
    COMMENT "Embedding ${shown}")
endfunction()
