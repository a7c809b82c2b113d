# infer/sources_text.cmake: the text side of the engine (tokenizers, chat templates, sampler).
# Included by infer/CMakeLists.txt.
list(APPEND KB_INFER_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/tok.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_vocab.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_special.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_gguf.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_unicode.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_pre.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_spm.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_bpe.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_merge.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_wpm.c
  ${CMAKE_CURRENT_LIST_DIR}/sampler.c
  ${CMAKE_CURRENT_LIST_DIR}/chat.c)
