# bench/ingest.cmake: parse + chunk throughput per format on a generated corpus (bench_ingest.c).
# Uses the ingest test fixtures (zip and PDF writers) to build the DOCX and PDF inputs.
add_executable(bench_ingest ${CMAKE_CURRENT_SOURCE_DIR}/bench_ingest.c)
target_link_libraries(bench_ingest PRIVATE kb_ingest_fixtures)
target_include_directories(bench_ingest PRIVATE ${PROJECT_SOURCE_DIR}/tests/ingest)
