kb_fuzz(fuzz_config SOURCES fuzz_config.c LIBS kb_config)
# the TZif reader behind handoff.timezone zone names (base/tz.c)
kb_fuzz(fuzz_tzif SOURCES fuzz_tzif.c LIBS kb_base)
