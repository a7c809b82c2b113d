kb_fuzz(fuzz_web_host SOURCES fuzz_web_host.c LIBS kb_web)
