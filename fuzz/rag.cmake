kb_fuzz(fuzz_remote_sse SOURCES fuzz_remote_sse.c LIBS kb_rag)
kb_fuzz(fuzz_remote_embed SOURCES fuzz_remote_embed.c LIBS kb_rag)
