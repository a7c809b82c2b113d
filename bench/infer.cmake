# bench/infer.cmake: engine-core benchmarks (memory bandwidth, kernel throughput). Not tests.
add_executable(bench_stream ${CMAKE_CURRENT_LIST_DIR}/bench_stream.c)
target_link_libraries(bench_stream PRIVATE kb_infer)
add_executable(bench_kernels ${CMAKE_CURRENT_LIST_DIR}/bench_kernels.c)
target_link_libraries(bench_kernels PRIVATE kb_infer)
add_executable(bench_ttft ${CMAKE_CURRENT_LIST_DIR}/bench_ttft.c)
target_link_libraries(bench_ttft PRIVATE kb_infer kb_base)
