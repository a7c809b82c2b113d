# fuzz/index.cmake: user queries through the tokenizer, the built-in embedder and a real search.
kb_fuzz(fuzz_index_query SOURCES fuzz_index_query.c LIBS kb_index)
