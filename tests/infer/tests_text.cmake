# tests/infer/tests_text.cmake: tests of the text side of the engine (tokenizers, chat, sampler).
kb_test(test_tok SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tok.c LIBS kb_infer LABELS unit)
kb_test(test_sampler SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sampler.c LIBS kb_infer LABELS unit)
kb_test(test_chat SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_chat.c LIBS kb_infer LABELS unit)
