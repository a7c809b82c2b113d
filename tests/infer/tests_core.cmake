# tests/infer/tests_core.cmake: tests of the engine core (GGUF reader, kernels, pool, synth writer).
kb_test(test_gguf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gguf.c LIBS kb_infer LABELS unit)
kb_test(test_kernels SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kernels.c LIBS kb_infer LABELS kernel)
kb_test(test_pool SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pool.c LIBS kb_infer LABELS unit)
kb_test(test_synth SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_synth.c LIBS kb_infer LABELS unit)
# The AVX2 kernels again with AVX-512 turned off, so an AVX-512 machine checks both ISA files.
add_test(NAME test_kernels_avx2 COMMAND test_kernels)
set_tests_properties(test_kernels_avx2 PROPERTIES LABELS kernel ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=STDOUT;KBOX_ISA=avx2")
