/* base/log.c: the leveled log sink, one of the three process-wide objects the house style allows.
 * Messages are formatted into a bounded stack buffer and handed to the sink; the default sink
 * writes "kbox: LEVEL: message" lines to stderr with one fputs so lines from threads don't mix.
 * The level is an atomic so threads may read it while the CLI sets it. Tests: tests/base/test_log.c. */
#include "base/base.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static kb_log_sink_fn log_sink;
static void *log_ud;
static _Atomic int log_level = KB_LOG_INFO;

static const char *const log_names[] = {"debug", "info", "warn", "error", "off"};

void kb_log_set_sink(kb_log_sink_fn fn, void *ud)
{
    log_sink = fn;
    log_ud = ud;
}

void kb_log_set_level(enum kb_log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum kb_log_level kb_log_get_level(void)
{
    return (enum kb_log_level)atomic_load(&log_level);
}

int kb_log_parse_level(const char *name, enum kb_log_level *out)
{
    for (size_t i = 0; i < KB_ARRAY_LEN(log_names); i++) {
        if (strcmp(name, log_names[i]) == 0) {
            *out = (enum kb_log_level)i;
            return 0;
        }
    }
    return KB_EINVAL;
}

void kb_log(enum kb_log_level level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    if ((int)level < atomic_load(&log_level) || level >= KB_LOG_OFF)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_sink) {
        log_sink(level, msg, log_ud);
    } else {
        char line[2100];
        snprintf(line, sizeof line, "kbox: %s: %s\n", log_names[level], msg);
        fputs(line, stderr);
    }
}
