# bench/web.cmake: the web benchmark (wrk on loopback; see bench/web/run.sh). Not a test: run it with
# `cmake --build BUILD --target bench_web`, and copy its Markdown into docs/BENCHMARKS.md.
if(TARGET kbox AND TARGET kb_web)
  add_custom_target(bench_web
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/web/run.sh $<TARGET_FILE:kbox> 10 32
    DEPENDS kbox
    USES_TERMINAL
    COMMENT "wrk against kbox serve: /api/search and /api/ask")
endif()
