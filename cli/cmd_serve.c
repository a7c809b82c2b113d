/* cli/cmd_serve.c: `kbox serve [--host H] [--port P] [--threads N] [--quiet]`: opens the knowledge
 * base and serves the web UI, JSON API, widget and OpenAI-compatible API until SIGINT or SIGTERM.
 *
 * Signals are blocked in every thread kbox starts (rag's workers, the HTTP pool inherit the mask)
 * and the main thread waits for them with sigwait(), so shutdown runs in ordinary code. Threads a
 * library started before main (OpenBLAS's pool, from its constructor) do not block them: a SIGTERM
 * that arrives while the main thread is not in sigwait() (still starting, under load) was delivered
 * there and killed the process; serve_forward, their handler, hands it to the main thread instead.
 * Then web_server_stop() lets in-flight requests finish, and rag_close() stops the ingestion
 * workers after their current document (queued jobs resume at the next start).
 * stdout gets the URL (with the port actually bound, for --port 0) and the admin token, once, at
 * start; the access log goes to stderr through kb_log. Tests: tests/web/test_web.c, tests/cli/. */
#include "cli/cli.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#ifdef KBOX_HAVE_RAG
#include "rag/rag.h"
#include "web/web.h"

static pthread_t serve_main;

/* Runs only in a thread that does not block the signal (see above): pending on the main thread,
 * sigwait() takes it. */
static void serve_forward(int sig)
{
    int e = errno;
    pthread_kill(serve_main, sig);
    errno = e;
}

static int serve_flags(struct cli *c, struct web_opts *o)
{
    for (int i = 0; i < c->argc; i++) {
        const char *a = c->argv[i];
        int rc;
        if (!strcmp(a, "--quiet")) {
            o->access_log = false;
            continue;
        }
        if (strcmp(a, "--host") && strcmp(a, "--port") && strcmp(a, "--threads"))
            return cli_usage("serve", "unknown argument '%s'", a);
        if (i + 1 >= c->argc)
            return cli_usage("serve", "%s needs a value", a);
        rc = cli_set(c, !strcmp(a, "--host") ? "server.host" : !strcmp(a, "--port") ? "server.port" : "server.threads",
                     c->argv[++i]);
        if (rc)
            return rc;
    }
    return 0;
}

int cmd_serve(struct cli *c)
{
    struct web_opts o = {.host = NULL, .port = -1, .n_threads = 0, .access_log = true};
    struct kb_error err = {0};
    struct rag *r = NULL;
    struct web_server *s = NULL;
    struct cli_backup_sched *bs = NULL;
    sigset_t set;
    int rc, sig = 0;

    if ((rc = serve_flags(c, &o)))
        return rc;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP); /* reload the HTTPS certificate */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    serve_main = pthread_self();
    struct sigaction fwd = {.sa_handler = serve_forward, .sa_flags = SA_RESTART};
    sigemptyset(&fwd.sa_mask);
    sigaction(SIGINT, &fwd, NULL);
    sigaction(SIGTERM, &fwd, NULL);
    sigaction(SIGHUP, &fwd, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that goes away must not kill the server */
    umask(077); /* the data directory (database, originals, uploads, token) is the owner's alone */

    if ((rc = rag_open(&r, &c->cfg, &err))) {
        rc = cli_fail(rc, &err);
        goto out;
    }
    if ((rc = web_server_start(&s, r, &o, &err))) {
        rc = cli_fail(rc, &err);
        goto out_close_rag;
    }
    printf("kbox: serving %s://%s:%d/ (data in %s)\n", web_server_tls(s) ? "https" : "http", c->cfg.server_host,
           web_server_port(s), c->cfg.data_dir);
    if (web_server_admin_token(s)[0])
        printf("kbox: break-glass admin token: from %s\n",
               c->cfg.auth_admin_token[0] ? "auth.admin_token" : "server.admin_token");
    if (web_server_setup_token(s)[0]) /* no owner yet: a one-time link instead of a printed token */
        printf("kbox: log in: no owner account yet; open this one-time setup link to create it:\n"
               "kbox:   %s://%s:%d/#setup=%s\n"
               "kbox:   (or: kbox user add --role owner EMAIL)\n",
               web_server_tls(s) ? "https" : "http", c->cfg.server_host, web_server_port(s), web_server_setup_token(s));
    else
        printf("kbox: log in: %s://%s:%d/ with your account (kbox user list)\n", web_server_tls(s) ? "https" : "http",
               c->cfg.server_host, web_server_port(s));
    if ((rc = cli_backup_sched_start(&bs, &c->cfg, &err))) {
        web_server_stop(s);
        rc = cli_fail(rc, &err);
        goto out_close_rag;
    }
    printf("kbox: press Ctrl-C to stop\n");
    fflush(stdout);

    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
        struct kb_error herr = {0};
        int hrc = web_server_reload_tls(s, &herr);
        if (hrc)
            kb_log_error("SIGHUP: kept the old certificate: %s", kb_error_msg(&herr, hrc));
        else if (web_server_tls(s))
            kb_info("SIGHUP: reloaded the HTTPS certificate from %s", c->cfg.server_tls_cert);
    }
    fprintf(stderr, "kbox: %s: shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    cli_backup_sched_stop(bs);
    web_server_stop(s);
    rc = CLI_EXIT_OK;
out_close_rag:
    rag_close(r);
out:
    return rc;
}

#else

int cmd_serve(struct cli *c)
{
    (void)c;
    return cli_not_built("serve");
}

#endif
