# fuzz/ingest.cmake: one libFuzzer target per ingest entry point, each with a seed corpus in
# fuzz/corpus/<target>/: text/Markdown/CSV, HTML, zip-based office formats, PDF.
# In a fuzz build kb_ingest itself carries coverage instrumentation (fuzzer-no-link) and the
# sanitizers, so libFuzzer is guided through the parsers rather than only the harness; consumers
# then link the sanitizer runtimes too.
target_compile_options(kb_ingest PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
target_link_options(kb_ingest INTERFACE -fsanitize=address,undefined)
foreach(t text html office pdf)
  kb_fuzz(fuzz_ingest_${t} SOURCES fuzz_ingest_${t}.c fuzz_ingest_common.c LIBS kb_ingest)
endforeach()
