# bench/index.cmake: the index benchmark (synthetic corpora; see bench_index.c for usage).
add_executable(bench_index ${CMAKE_CURRENT_SOURCE_DIR}/bench_index.c)
target_link_libraries(bench_index PRIVATE kb_index)
# Retrieval quality on ../shared/eval sets, for tuning (bench_index_eval.c).
add_executable(bench_index_eval ${CMAKE_CURRENT_SOURCE_DIR}/bench_index_eval.c)
target_link_libraries(bench_index_eval PRIVATE kb_index)
