# bench/web.cmake: the web benchmark (wrk on loopback; see bench/web/run.sh). Not a test: run it with
# `cmake --build BUILD --target bench_web`, and copy its Markdown into docs/BENCHMARKS.md.
if(TARGET kbox AND TARGET kb_web)
  add_custom_target(bench_web
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/web/run.sh $<TARGET_FILE:kbox> 10 32
    DEPENDS kbox
    USES_TERMINAL
    COMMENT "wrk against kbox serve: /api/search and /api/ask")
endif()
# Human handoff (issue #17): N waiting customers' SSE streams held open, reply delivery p99 and RSS per
# connection against a `kbox serve` child (bench_handoff.c). Run: bench_handoff BUILD/cli/kbox 500 500
if(TARGET kbox AND TARGET kb_web)
  add_executable(bench_handoff ${CMAKE_CURRENT_SOURCE_DIR}/bench_handoff.c ${PROJECT_SOURCE_DIR}/tests/web/http.c)
  target_link_libraries(bench_handoff PRIVATE kb_base)
  add_dependencies(bench_handoff kbox)
endif()
# What an account check costs next to a search, and a login's Argon2id (bench_auth.c, issue #16);
# over HTTP with wrk: bench/web/auth.sh KBOX.
if(TARGET kbox AND TARGET kb_web)
  add_executable(bench_auth ${CMAKE_CURRENT_SOURCE_DIR}/bench_auth.c)
  target_link_libraries(bench_auth PRIVATE kb_web)
  add_custom_target(bench_auth_run
    COMMAND bench_auth $<TARGET_FILE:kbox> ${PROJECT_SOURCE_DIR} 2000
    DEPENDS kbox bench_auth
    USES_TERMINAL
    COMMENT "account checks against rag_search, Argon2id per login")
endif()
