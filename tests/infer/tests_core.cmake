# tests/infer/tests_core.cmake: tests of the engine core (GGUF reader, kernels, pool, synth writer).
kb_test(test_gguf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gguf.c LIBS kb_infer LABELS unit)
