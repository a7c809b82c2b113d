# bench/spec.cmake: prompt-lookup speculative decoding on grounded answers. Not a test.
add_executable(bench_spec ${CMAKE_CURRENT_LIST_DIR}/bench_spec.c)
target_link_libraries(bench_spec PRIVATE kb_infer)
target_compile_definitions(bench_spec PRIVATE KBOX_SAMPLES_DIR="${PROJECT_SOURCE_DIR}/samples/en")
