# bench/bert.cmake: embedding throughput (chunks/s) of infer/embed.h on a GGUF encoder. Not a test.
add_executable(bench_embed ${CMAKE_CURRENT_LIST_DIR}/bench_embed.c)
target_link_libraries(bench_embed PRIVATE kb_infer)
