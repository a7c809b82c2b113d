/* tests/web/webfix.h: the in-process server fixture the web tests share: a fresh temporary data
 * directory, a config whose settings the test sets, the real rag and the real libmicrohttpd server
 * on 127.0.0.1 and an ephemeral port. Each step fails the running cmocka test with the error
 * message when it does not work. */
#ifndef KBOX_TESTS_WEBFIX_H
#define KBOX_TESTS_WEBFIX_H

#include "config/config.h"
#include "rag/rag.h"
#include "web/web.h"

struct webfix {
    char dir[256];
    struct config cfg;
    struct rag *rag;
    struct web_server *srv;
    int port;
};

/* A new fixture: mkdtemp /tmp/kbox-NAME-test-XXXXXX, data.dir there, server.port 0. Nothing runs. */
struct webfix *webfix_new(const char *name);
/* config_set with the flag source; a refused value fails the test. */
void webfix_set(struct webfix *f, const char *key, const char *value);
/* rag_open over f->cfg, then the server with n_threads workers; f->port is its port. */
void webfix_start(struct webfix *f, int n_threads);
/* Stops the server and closes the rag; the directory and the settings stay for another start. */
void webfix_stop(struct webfix *f);
/* Removes directory dir and everything below it. */
void webfix_rmtree(const char *dir);
/* Stops what runs, releases the settings, removes the directory and frees f. */
void webfix_free(struct webfix *f);

#endif
