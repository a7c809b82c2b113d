# tests/infer/tests_spec.cmake: prompt-lookup speculative decoding gives plain decoding's output.
kb_test(test_spec SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_spec.c
        ${PROJECT_SOURCE_DIR}/tests/support/run.c LIBS kb_infer kb_base m LABELS unit)
# Speculative verification batches go through the tile kernels: check identical output on AVX2 too.
add_test(NAME test_spec_avx2 COMMAND test_spec)
set_tests_properties(test_spec_avx2 PROPERTIES LABELS unit ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=STDOUT;KBOX_ISA=avx2")
