kb_fuzz(fuzz_config SOURCES fuzz_config.c LIBS kb_config)
