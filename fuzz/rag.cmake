kb_fuzz(fuzz_remote_sse SOURCES fuzz_remote_sse.c LIBS kb_rag)
kb_fuzz(fuzz_remote_embed SOURCES fuzz_remote_embed.c LIBS kb_rag)
# the extractive answerer and its spans on arbitrary passage text; kb_rag instrumented so the
# fuzzer is guided through answer.c and span.c, not only the harness
kb_fuzz(fuzz_answer SOURCES fuzz_answer.c LIBS kb_rag)
# the conversation log's question keys and query dates (rag/log.c)
kb_fuzz(fuzz_log SOURCES fuzz_log.c LIBS kb_rag)
target_compile_options(kb_rag PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
target_link_options(kb_rag INTERFACE -fsanitize=address,undefined)
# the FAQ editor's CSV and XLSX import readers (rag/curated.c, ingest/sheet.c)
kb_fuzz(fuzz_curated_import SOURCES fuzz_curated_import.c LIBS kb_rag)
