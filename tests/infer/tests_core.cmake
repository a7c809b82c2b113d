# tests/infer/tests_core.cmake: tests of the engine core (GGUF reader, kernels, pool, synth writer).
kb_test(test_gguf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gguf.c LIBS kb_infer LABELS unit)
kb_test(test_kernels SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kernels.c LIBS kb_infer LABELS kernel)
kb_test(test_pool SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pool.c LIBS kb_infer LABELS unit)
kb_test(test_synth SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_synth.c LIBS kb_infer LABELS unit)
