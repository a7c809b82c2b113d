# tests/infer/tests_spec.cmake: prompt-lookup speculative decoding gives plain decoding's output.
kb_test(test_spec SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_spec.c
        ${PROJECT_SOURCE_DIR}/tests/support/run.c LIBS kb_infer kb_base m LABELS unit)
