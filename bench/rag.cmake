# bench/rag.cmake: the remote answer backend benchmark (bench_remote.c: kbox serve in front of a
# stand-in OpenAI-compatible server). Not a test: `cmake --build BUILD --target bench_remote_run`,
# and copy its Markdown into docs/BENCHMARKS.md.
if(TARGET kbox)
  add_executable(bench_remote bench_remote.c)
  target_link_libraries(bench_remote PRIVATE Threads::Threads)
  add_custom_target(bench_remote_run
    COMMAND bench_remote $<TARGET_FILE:kbox> ${PROJECT_SOURCE_DIR} 40 200 64 10
    DEPENDS kbox bench_remote
    USES_TERMINAL
    COMMENT "kbox serve in front of a stand-in remote backend: TTFT, CPU, 200 concurrent streams")
endif()
