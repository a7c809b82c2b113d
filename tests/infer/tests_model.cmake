# tests/infer/tests_model.cmake: the model side of infer/ (architectures, sessions, generation),
# against llama.cpp's conformance outputs and a double-precision reference forward pass.
kb_test(test_conformance SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_conformance.c
        ${CMAKE_CURRENT_LIST_DIR}/ref_forward.c LIBS kb_infer kb_base m LABELS unit)
target_include_directories(test_conformance PRIVATE ${PROJECT_SOURCE_DIR})
