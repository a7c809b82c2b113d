# tests/infer/tests_bert.cmake: the embedder of infer/embed.h against llama.cpp's bert_f32 outputs,
# its tokenization, threads and errors, and `kbox model embed`.
kb_test(test_bert SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bert.c
        ${PROJECT_SOURCE_DIR}/tests/support/run.c LIBS kb_infer kb_base m Threads::Threads LABELS unit)
add_dependencies(test_bert kbox)
