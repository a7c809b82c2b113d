/* tests/rag/remote_util.h: shared by the remote backend tests (test_remote_sse.c, test_remote.c,
 * test_remote_e2e.c, tests/web/test_remote_served.c): reading a transcript of tests/rag/remote/,
 * collecting the content and reasoning pieces the stream parser passes on, and (tests that run the
 * kbox binary) ingesting samples/en. Include after cmocka.h and rag/rag_int.h. */
#ifndef KB_TESTS_RAG_REMOTE_UTIL_H
#define KB_TESTS_RAG_REMOTE_UTIL_H

#include <stdio.h>
#include <stdlib.h>

struct collect {
    struct kb_buf content, reasoning;
};

__attribute__((unused)) static int collect_piece(void *ud, enum remote_piece kind, const char *text, size_t n, struct kb_error *err)
{
    struct collect *c = ud;
    (void)err;
    return kb_buf_append(kind == REMOTE_PIECE_CONTENT ? &c->content : &c->reasoning, text, n);
}

/* The transcript's bytes, NUL-terminated; caller frees. */
__attribute__((unused)) static char *read_transcript(const char *name, size_t *n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/rag/remote/%s", KBOX_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *n = fread(buf, 1, (1 << 16) - 1, f);
    buf[*n] = '\0';
    fclose(f);
    return buf;
}

#ifdef KBOX_BIN
#include "../support/run.h"

/* `kbox --data-dir dir ingest samples/en`, which must succeed (the served tests' knowledge base). */
static inline void ingest_samples(const char *dir)
{
    struct run_result r;
    char *argv[] = {KBOX_BIN, "--data-dir", (char *)dir, "--set", "log.level=warn", "ingest",
                    KBOX_SOURCE_DIR "/samples/en", NULL};
    assert_int_equal(run_cmd(&r, argv, NULL), 0);
    if (r.exit_code != 0)
        fail_msg("kbox ingest exited %d: %s", r.exit_code, r.err);
    run_result_free(&r);
}
#endif

#endif
