# tests/infer/tests_model.cmake: the model side of infer/ (architectures, sessions, generation),
# against llama.cpp's conformance outputs and a double-precision reference forward pass.
kb_test(test_conformance SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_conformance.c
        ${CMAKE_CURRENT_LIST_DIR}/ref_forward.c LIBS kb_infer kb_base m LABELS unit)
target_include_directories(test_conformance PRIVATE ${PROJECT_SOURCE_DIR})
kb_test(test_ref_forward SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ref_forward.c
        ${CMAKE_CURRENT_LIST_DIR}/ref_forward.c LIBS kb_infer kb_base m LABELS slow)
kb_test(test_model_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_model_cli.c
        ${PROJECT_SOURCE_DIR}/tests/support/run.c LIBS kb_base LABELS e2e)
add_dependencies(test_model_cli kbox)
kb_test(test_moe SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_moe.c LIBS kb_infer kb_base m LABELS unit)
kb_test(test_model SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_model.c
        ${PROJECT_SOURCE_DIR}/tests/support/run.c LIBS kb_infer kb_base m LABELS unit)
kb_test(test_pool_sessions SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pool_sessions.c LIBS kb_infer kb_base m
        LABELS unit)
kb_test(test_decode_threads SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_decode_threads.c LIBS kb_infer kb_base m
        LABELS unit)
# MXFP4 against llama.cpp's logits on a committed tiny file, on every kernel set.
kb_test(test_mxfp4_conf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mxfp4_conf.c LIBS kb_infer kb_base m LABELS unit)
add_test(NAME test_mxfp4_conf_avx2 COMMAND test_mxfp4_conf)
set_tests_properties(test_mxfp4_conf_avx2 PROPERTIES LABELS unit ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=STDOUT;KBOX_ISA=avx2")
add_test(NAME test_mxfp4_conf_scalar COMMAND test_mxfp4_conf)
set_tests_properties(test_mxfp4_conf_scalar PROPERTIES LABELS unit ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=STDOUT;KBOX_FORCE_SCALAR=1")
# gpt-oss (sinks, sliding windows in a KV ring, YaRN, biased SwiGLU-OAI experts) against llama.cpp's
# logits on committed tiny files (F32, MXFP4, a second shape), on the dispatched and scalar kernels.
kb_test(test_gptoss_conf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gptoss_conf.c LIBS kb_infer kb_base m LABELS unit)
add_test(NAME test_gptoss_conf_scalar COMMAND test_gptoss_conf)
set_tests_properties(test_gptoss_conf_scalar PROPERTIES LABELS unit ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=STDOUT;KBOX_FORCE_SCALAR=1")
kb_test(test_qwen3next_conf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_qwen3next_conf.c ${CMAKE_CURRENT_LIST_DIR}/conf_case.c
        ${PROJECT_SOURCE_DIR}/tests/support/run.c LIBS kb_infer kb_base m LABELS unit)
add_dependencies(test_qwen3next_conf kbox)
add_test(NAME test_qwen3next_conf_scalar COMMAND test_qwen3next_conf)
set_tests_properties(test_qwen3next_conf_scalar PROPERTIES LABELS unit ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=STDOUT;KBOX_FORCE_SCALAR=1")
kb_test(test_glm4moe_conf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_glm4moe_conf.c ${CMAKE_CURRENT_LIST_DIR}/conf_case.c
        ${PROJECT_SOURCE_DIR}/tests/support/run.c LIBS kb_infer kb_base m LABELS unit)
add_test(NAME test_glm4moe_conf_scalar COMMAND test_glm4moe_conf)
set_tests_properties(test_glm4moe_conf_scalar PROPERTIES LABELS unit ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=STDOUT;KBOX_FORCE_SCALAR=1")
# deepseek32 (MLA + DeepSeek Sparse Attention's lightning indexer and top-k) against llama.cpp's
# logits on committed tiny files (F32, Q8_0, a second shape), on the dispatched and scalar kernels.
kb_test(test_deepseek32_conf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_deepseek32_conf.c ${CMAKE_CURRENT_LIST_DIR}/conf_case.c
        ${PROJECT_SOURCE_DIR}/tests/support/run.c LIBS kb_infer kb_base m LABELS unit)
add_dependencies(test_deepseek32_conf kbox)
add_test(NAME test_deepseek32_conf_scalar COMMAND test_deepseek32_conf)
set_tests_properties(test_deepseek32_conf_scalar PROPERTIES LABELS unit ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=STDOUT;KBOX_FORCE_SCALAR=1")
