kb_fuzz(fuzz_config SOURCES fuzz_config.c LIBS kb_config)
# the TZif reader behind handoff.timezone zone names (base/tz.c); tz.c is compiled into the target
# so that it, and not only the harness, is instrumented (kb_base's copy is then never linked)
kb_fuzz(fuzz_tzif SOURCES fuzz_tzif.c ${PROJECT_SOURCE_DIR}/base/tz.c LIBS kb_base)
