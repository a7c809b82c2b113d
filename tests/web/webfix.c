/* tests/web/webfix.c: see webfix.h. */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "webfix.h"

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

struct webfix *webfix_new(const char *name)
{
    struct webfix *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/kbox-%s-test-XXXXXX", name);
    if (!mkdtemp(f->dir))
        fail_msg("mkdtemp %s: %s", f->dir, strerror(errno));
    config_init(&f->cfg);
    webfix_set(f, "data.dir", f->dir);
    webfix_set(f, "server.port", "0");
    return f;
}

void webfix_set(struct webfix *f, const char *key, const char *value)
{
    struct kb_error err = {0};
    if (config_set(&f->cfg, key, value, CONFIG_SRC_FLAG, &err))
        fail_msg("config_set %s=%s: %s", key, value, err.msg);
}

void webfix_start(struct webfix *f, int n_threads)
{
    struct kb_error err = {0};
    struct web_opts o = {.host = NULL, .port = -1, .n_threads = n_threads, .access_log = false};
    if (rag_open(&f->rag, &f->cfg, &err))
        fail_msg("rag_open: %s", err.msg);
    if (web_server_start(&f->srv, f->rag, &o, &err))
        fail_msg("web_server_start: %s", err.msg);
    f->port = web_server_port(f->srv);
    assert_true(f->port > 0);
}

void webfix_stop(struct webfix *f)
{
    if (f->srv)
        web_server_stop(f->srv);
    if (f->rag)
        rag_close(f->rag);
    f->srv = NULL;
    f->rag = NULL;
}

void webfix_rmtree(const char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

void webfix_free(struct webfix *f)
{
    if (!f)
        return;
    webfix_stop(f);
    config_release(&f->cfg);
    webfix_rmtree(f->dir);
    free(f);
}
