kb_fuzz(fuzz_remote_sse SOURCES fuzz_remote_sse.c LIBS kb_rag)
