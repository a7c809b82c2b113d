# fuzz/index.cmake: user queries through the tokenizer, the built-in embedder and a real search.
kb_fuzz(fuzz_index_query SOURCES fuzz_index_query.c LIBS kb_index)
# Coverage feedback needs the library itself instrumented, not just the harness.
target_compile_options(kb_index PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
target_link_options(kb_index INTERFACE -fsanitize=address,undefined)
