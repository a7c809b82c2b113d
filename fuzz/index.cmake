# fuzz/index.cmake: user queries through the tokenizer, the built-in embedder and a real search.
kb_fuzz(fuzz_index_query SOURCES fuzz_index_query.c LIBS kb_index)
# Coverage feedback needs the library itself instrumented, not just the harness.
target_compile_options(kb_index PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
target_link_options(kb_index INTERFACE -fsanitize=address,undefined)
# The CJK word-list segmenter (text/segment.c) the query builder uses: word list and text from the input.
kb_fuzz(fuzz_text_dict SOURCES fuzz_text_dict.c LIBS kb_text)
target_compile_options(kb_text PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
target_link_options(kb_text INTERFACE -fsanitize=address,undefined)
# The Traditional -> Simplified folding and the folded-term match of text/tokenize.c.
kb_fuzz(fuzz_text_fold SOURCES fuzz_text_fold.c LIBS kb_text)
