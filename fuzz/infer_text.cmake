# fuzz/infer_text.cmake: libFuzzer target of the tokenizers (include from fuzz/CMakeLists.txt).
kb_fuzz(fuzz_tok SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_tok.c LIBS kb_infer)
