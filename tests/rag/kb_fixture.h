/* tests/rag/kb_fixture.h: a real knowledge base for a test group: a fresh data dir under /tmp,
 * log.level warn, the given files or folders ingested (real SQLite store, built-in embedder), and
 * removed afterwards. Used by test_rag.c and test_faq_match.c. Include after cmocka.h (and
 * define _GNU_SOURCE for mkdtemp). */
#ifndef KB_TESTS_RAG_KB_FIXTURE_H
#define KB_TESTS_RAG_KB_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "config/config.h"
#include "rag/rag.h"

struct fixture {
    char dir[64];
    struct config cfg;
    struct rag *r;
};

/* A fixture with a fresh, empty data dir (not opened yet); caller frees with kb_fixture_free(). */
static struct fixture *kb_fixture_new(const char *tag)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    struct kb_error err = {0};
    snprintf(fx->dir, sizeof fx->dir, "/tmp/kbox-%s-XXXXXX", tag);
    assert_non_null(mkdtemp(fx->dir));
    config_init(&fx->cfg);
    assert_int_equal(config_set(&fx->cfg, "data.dir", fx->dir, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&fx->cfg, "log.level", "warn", CONFIG_SRC_FLAG, &err), 0);
    return fx;
}

/* Opens the knowledge base and ingests paths[0..n_paths). */
static void kb_fixture_open(struct fixture *fx, const char *const *paths, int n_paths)
{
    struct kb_error err = {0};
    if (rag_open(&fx->r, &fx->cfg, &err))
        fail_msg("rag_open: %s", err.msg);
    if (rag_ingest_paths(fx->r, 0, paths, n_paths, false, NULL, NULL, &err))
        fail_msg("ingest: %s", err.msg);
}

static void kb_fixture_free(struct fixture *fx)
{
    char cmd[128];
    rag_close(fx->r);
    config_release(&fx->cfg);
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
}

#endif
