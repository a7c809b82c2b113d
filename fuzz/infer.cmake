# fuzz/infer.cmake: libFuzzer targets of infer/ (seed corpus in fuzz/corpus/<target>/).
kb_fuzz(fuzz_gguf SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_gguf.c LIBS kb_infer)
