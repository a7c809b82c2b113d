# bench/index.cmake: the index benchmark (synthetic corpora; see bench_index.c for usage).
add_executable(bench_index ${CMAKE_CURRENT_SOURCE_DIR}/bench_index.c)
target_link_libraries(bench_index PRIVATE kb_index)
# Retrieval candidates of ../shared/eval sets dumped for offline fusion tuning (bench_index_eval.c, fusion_tune.py).
add_executable(bench_index_eval ${CMAKE_CURRENT_SOURCE_DIR}/bench_index_eval.c)
target_link_libraries(bench_index_eval PRIVATE kb_index kb_ingest kb_config)
# Build time and recall of FAISS's HNSW and IVF indexes against exact search (bench_index_hnsw.c).
add_executable(bench_index_hnsw ${CMAKE_CURRENT_SOURCE_DIR}/bench_index_hnsw.c)
target_link_libraries(bench_index_hnsw PRIVATE kb_index)
# Concurrent search throughput with the BERT GGUF embedder (bench_search_concurrent.c).
find_package(Threads REQUIRED)
add_executable(bench_search_concurrent ${CMAKE_CURRENT_SOURCE_DIR}/bench_search_concurrent.c)
target_link_libraries(bench_search_concurrent PRIVATE kb_index kb_infer Threads::Threads)
# The conversation log (issue #15): bytes per logged exchange, /api/stats over 1M messages (bench_log.c).
add_executable(bench_log ${CMAKE_CURRENT_SOURCE_DIR}/bench_log.c)
target_link_libraries(bench_log PRIVATE kb_index)
# store.backend = postgres against SQLite alone on a private PostgreSQL cluster (bench_pg.c).
add_executable(bench_pg ${CMAKE_CURRENT_SOURCE_DIR}/bench_pg.c ${CMAKE_CURRENT_SOURCE_DIR}/pgbench.c ${PROJECT_SOURCE_DIR}/tests/support/pgcluster.c
               ${PROJECT_SOURCE_DIR}/tests/support/run.c)
target_link_libraries(bench_pg PRIVATE kb_index)
# `kbox store migrate` both ways and the shared re-embedding by one and two nodes (bench_pg_migrate.c).
add_executable(bench_pg_migrate ${CMAKE_CURRENT_SOURCE_DIR}/bench_pg_migrate.c ${CMAKE_CURRENT_SOURCE_DIR}/pgbench.c ${PROJECT_SOURCE_DIR}/tests/support/pgcluster.c
               ${PROJECT_SOURCE_DIR}/tests/support/run.c)
target_link_libraries(bench_pg_migrate PRIVATE kb_index Threads::Threads)
# the conversation log shared through PostgreSQL against SQLite alone (bench_pg_rows.c).
add_executable(bench_pg_rows ${CMAKE_CURRENT_SOURCE_DIR}/bench_pg_rows.c ${CMAKE_CURRENT_SOURCE_DIR}/pgbench.c ${PROJECT_SOURCE_DIR}/tests/support/pgcluster.c
               ${PROJECT_SOURCE_DIR}/tests/support/run.c)
target_link_libraries(bench_pg_rows PRIVATE kb_index)
# human handoff shared through PostgreSQL: write rate, live events across nodes, take races (bench_pg_handoff.c).
add_executable(bench_pg_handoff ${CMAKE_CURRENT_SOURCE_DIR}/bench_pg_handoff.c ${CMAKE_CURRENT_SOURCE_DIR}/pgbench.c ${PROJECT_SOURCE_DIR}/tests/support/pgcluster.c
               ${PROJECT_SOURCE_DIR}/tests/support/run.c)
target_link_libraries(bench_pg_handoff PRIVATE kb_index Threads::Threads)
