/* tests/web/test_pg_nodes.c: `kbox serve` nodes (real processes, real HTTP on 127.0.0.1) on one
 * private PostgreSQL cluster (tests/support/pgcluster.c), store.backend = postgres.
 * test_two_nodes:
 * - an upload through node A is in PostgreSQL when answered, and searchable through node B, with the
 *   same hits (ids and scores);
 * - /api/health on both reports the store, connected, with lag 0 once caught up, and equal counts;
 * - PostgreSQL stopped: both nodes still answer searches from their caches, an upload fails with
 *   503 naming PostgreSQL and leaves the counts unchanged; PostgreSQL back: the nodes reconnect by
 *   themselves and the next upload reaches both;
 * - node A restarted while PostgreSQL is down comes up on its local cache: searches answer, an
 *   upload gets 503, health says disconnected; it reconnects by itself when PostgreSQL is back.
 * test_shared_jobs (three nodes, jobs shared through PostgreSQL):
 * - node A alone takes a large upload and two small ones; A is killed with SIGKILL while the large
 *   one is being ingested (its document "parsing", its job not done); nodes B and C start, the
 *   killed claim has died with A's session, and B or C finishes every job;
 * - afterwards: three documents, all indexed, each job done once by a node that is not A, every
 *   document's chunks exactly ordinals 0..n-1 (no chunk twice, none missing), and B's and C's caches
 *   hold the same document and chunk counts as PostgreSQL;
 * - six more uploads spread over B and C are each done by exactly one job row, all indexed; every
 *   node's /api/jobs lists all nine jobs done and /api/jobs/N answers for a job another node ran.
 * test_accounts_across_nodes (two nodes): a user added on A logs in on B and B's session is valid on
 *   A; an API key made on A works on B and, revoked on A, is refused by B within 3 s; a bot created
 *   on A serves /b/ID on B; a question asked on A counts in B's /api/stats; a curated answer written
 *   on A answers a paraphrase asked on B (mode "curated").
 * test_handoff_across_nodes (two nodes, one Inbox stream open on each: presence is per node): a
 *   customer on B asks for a person, A's Inbox stream shows it queued, A takes it while B's agent
 *   gets 409, A's reply reaches the customer's stream on B (time printed), a resumed stream
 *   (Last-Event-ID) gets the next event only, the customer's reply on B reaches A's conversation
 *   stream, B's agent cannot write (403), A closes it and the customer sees it; both nodes then
 *   hold the same six events.
 * test_presence_across_nodes (PG schema 7): an agent's Inbox stream open on A, a customer on B is
 *   offered a person (counted once on each node); a PUT /api/collections/ID/handoff on A turns that
 *   collection's handoff off on B; the agent leaves A and B stops offering within 20 s (A notices
 *   within two Inbox pings, then two heartbeats); A killed with an Inbox open: B stops offering once
 *   A's presence rows expire (10 s). Times printed.
 * test_spool_across_nodes: PostgreSQL stopped, three questions on A still answer (A's health says
 *   3 spooled); started again,
 *   the spooled log rows reach PostgreSQL and B, each once (4 messages counted in PostgreSQL and in
 *   both nodes' /api/stats).
 * Skipped with a message when PostgreSQL 15 is not installed. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "http.h"
#include "../cli/serve.h"
#include "../support/pgcluster.h"
#include "../support/sse.h"

#define TOKEN "pg-nodes-admin-token-0123456789abcdef"
#define AUTH "Authorization: Bearer " TOKEN

static const char *const admin[] = {AUTH, NULL};
static const char *const json_hdr[] = {AUTH, "Content-Type: application/json", NULL};
static const char *const upload_hdrs[] = {AUTH, "Content-Type: multipart/form-data; boundary=XbOuNdArY", NULL};

struct node {
    struct kbox_server k;
    char dir[64];
    bool up;
};

static struct pgcluster g_pg;
static struct node *g_nodes[8]; /* stopped by main after a failed assertion too */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Starts the private PostgreSQL cluster g_pg; skips the test when PostgreSQL 15 is not installed. */
static void cluster_start(void)
{
    int rc = pgcluster_start(&g_pg);
    if (rc == PGCLUSTER_SKIP)
        skip();
    assert_int_equal(rc, 0);
}

/* Starts kbox serve on n->dir (which exists). */
static void node_launch(struct node *n, const char *workers)
{
    char url[600];
    const char *argv[20];
    int k = 0;
    snprintf(url, sizeof url, "store.url=%s", g_pg.url);
    argv[k++] = "--set";
    argv[k++] = "server.admin_token=" TOKEN;
    argv[k++] = "--set";
    argv[k++] = workers;
    argv[k++] = "--set";
    argv[k++] = "store.backend=postgres";
    argv[k++] = "--set";
    argv[k++] = url;
    argv[k++] = "--set";
    argv[k++] = "store.poll_s=1";
    argv[k] = NULL;
    if (kbox_serve_start(&n->k, n->dir, argv))
        fail_msg("kbox serve did not start: %s", n->k.printed);
    n->up = true;
}

static void node_start_workers(struct node *n, const char *workers)
{
    snprintf(n->dir, sizeof n->dir, "/tmp/kbox-pgnode-XXXXXX");
    assert_non_null(mkdtemp(n->dir));
    node_launch(n, workers);
    for (int i = 0; i < 8; i++)
        if (!g_nodes[i]) {
            g_nodes[i] = n;
            break;
        }
}

static void node_start(struct node *n)
{
    node_start_workers(n, "ingest.workers=1");
}

static void node_stop(struct node *n)
{
    char cmd[128];
    if (!n->up)
        return;
    n->up = false;
    kbox_serve_stop(&n->k);
    snprintf(cmd, sizeof cmd, "rm -rf %s", n->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", n->dir);
}

/* status of method path; *body (nullable) gets the body (caller frees). */
static int call(struct node *n, const char *method, const char *path, const char *const *hdrs, const char *body,
                size_t body_len, char **out)
{
    struct http_resp r;
    int st;
    assert_int_equal(http_req(n->k.port, method, path, hdrs, body, body_len, &r), 0);
    st = r.status;
    if (out)
        *out = strdup(r.body ? r.body : "");
    http_resp_free(&r);
    return st;
}

static int upload(struct node *n, const char *name, const char *text, char **out)
{
    char body[4096];
    int len = snprintf(body, sizeof body,
                       "--XbOuNdArY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                       "Content-Type: text/plain\r\n\r\n%s\r\n--XbOuNdArY--\r\n",
                       name, text);
    return call(n, "POST", "/api/documents", upload_hdrs, body, (size_t)len, out);
}

static int64_t json_int(const char *body, const char *key)
{
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(body, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

static void wait_job(struct node *n, int64_t job)
{
    char path[64], *b = NULL;
    double t0 = now_s();
    snprintf(path, sizeof path, "/api/jobs/%lld", (long long)job);
    while (now_s() - t0 < 60) {
        assert_int_equal(call(n, "GET", path, admin, NULL, 0, &b), 200);
        if (strstr(b, "\"state\":\"done\"")) {
            free(b);
            return;
        }
        if (strstr(b, "\"state\":\"failed\""))
            fail_msg("job failed: %s", b);
        free(b);
        usleep(50000);
    }
    fail_msg("job %lld did not finish", (long long)job);
}

/* The search body without its timing, into a malloc'd string. */
static char *search(struct node *n, const char *q)
{
    char body[512], *b = NULL, *t;
    int len = snprintf(body, sizeof body, "{\"query\":\"%s\",\"top_k\":5}", q);
    assert_int_equal(call(n, "POST", "/api/search", json_hdr, body, (size_t)len, &b), 200);
    t = strstr(b, "\"took_ms\"");
    if (t)
        *t = '\0';
    return b;
}

/* Waits until q finds something on n (the change arrived), up to 10 s; returns the seconds waited. */
static double wait_found(struct node *n, const char *q, const char *needle)
{
    double t0 = now_s();
    while (now_s() - t0 < 10) {
        char *b = search(n, q);
        bool found = strstr(b, needle) != NULL;
        free(b);
        if (found)
            return now_s() - t0;
        usleep(20000);
    }
    fail_msg("'%s' never became searchable on port %d", q, n->k.port);
    return -1;
}

static char *health(struct node *n)
{
    char *b = NULL;
    assert_int_equal(call(n, "GET", "/api/health", admin, NULL, 0, &b), 200);
    return b;
}

static void wait_connected(struct node *n)
{
    double t0 = now_s();
    while (now_s() - t0 < 20) {
        char *h = health(n);
        bool ok = strstr(h, "\"connected\":true") != NULL;
        free(h);
        if (ok)
            return;
        usleep(100000);
    }
    fail_msg("node on port %d did not reconnect", n->k.port);
}

static void test_two_nodes(void **state)
{
    static struct node a, b; /* static: main stops them after a failed assertion */
    char *ra = NULL, *sa, *sb, *h;
    int64_t job;
    (void)state;
    cluster_start();
    node_start(&a);
    node_start(&b);
    /* upload through A; searchable through B, with the same hits */
    assert_int_equal(upload(&a, "tea.txt", "Oolong tea leaves are rolled and partially oxidised before firing.", &ra),
                     202);
    job = json_int(ra, "job_id");
    free(ra);
    assert_true(job > 0);
    /* the upload's bytes are in PostgreSQL as soon as it was answered */
    assert_int_equal(pgcluster_sql(&g_pg, "DO $$ BEGIN IF (SELECT count(*) FROM originals) <> 1 THEN"
                                          " RAISE 'upload not in postgresql'; END IF; END $$"),
                     0);
    wait_job(&a, job);
    wait_found(&b, "oolong oxidised", "Oolong");
    sa = search(&a, "oolong oxidised");
    sb = search(&b, "oolong oxidised");
    assert_string_equal(sa, sb);
    free(sa);
    free(sb);
    /* health: the store section, connected, caught up, the same counts */
    h = health(&b);
    assert_non_null(strstr(h, "\"backend\":\"postgres\""));
    assert_non_null(strstr(h, "\"connected\":true"));
    assert_non_null(strstr(h, "\"lag_seq\":0"));
    assert_int_equal(json_int(h, "documents"), 1);
    assert_true(json_int(h, "chunks") >= 1);
    free(h);
    h = health(&a);
    assert_int_equal(json_int(h, "documents"), 1);
    free(h);

    /* PostgreSQL stopped: searches answer from the caches, an upload gets 503 and changes nothing */
    assert_int_equal(pgcluster_stop(&g_pg), 0);
    sa = search(&a, "oolong oxidised");
    sb = search(&b, "oolong oxidised");
    assert_non_null(strstr(sb, "Oolong"));
    assert_string_equal(sa, sb);
    free(sa);
    free(sb);
    assert_int_equal(upload(&a, "coffee.txt", "Arabica beans grow at high altitude in volcanic soil.", &ra), 503);
    assert_non_null(strstr(ra, "postgresql"));
    free(ra);
    h = health(&a);
    assert_int_equal(json_int(h, "documents"), 1);
    free(h);
    /* A restarts while PostgreSQL is still down: it comes up on its cache, searches answer, writes
     * get 503, health says disconnected */
    kbox_serve_stop(&a.k);
    node_launch(&a, "ingest.workers=1");
    sa = search(&a, "oolong oxidised");
    assert_non_null(strstr(sa, "Oolong"));
    free(sa);
    assert_int_equal(upload(&a, "coffee.txt", "Arabica beans grow at high altitude in volcanic soil.", &ra), 503);
    assert_non_null(strstr(ra, "postgresql"));
    free(ra);
    h = health(&a);
    assert_non_null(strstr(h, "\"connected\":false"));
    assert_int_equal(json_int(h, "documents"), 1);
    free(h);

    /* back: both reconnect by themselves; the next upload reaches both */
    assert_int_equal(pgcluster_resume(&g_pg), 0);
    wait_connected(&a);
    wait_connected(&b);
    assert_int_equal(upload(&b, "coffee.txt", "Arabica beans grow at high altitude in volcanic soil.", &ra), 202);
    job = json_int(ra, "job_id");
    free(ra);
    wait_job(&b, job);
    wait_found(&a, "arabica altitude", "Arabica");
    h = health(&a);
    assert_int_equal(json_int(h, "documents"), 2);
    free(h);
    h = health(&b);
    assert_int_equal(json_int(h, "documents"), 2);
    free(h);
    node_stop(&a);
    node_stop(&b);
    pgcluster_destroy(&g_pg);
}

/* SIGKILL: no shutdown, no goodbye to PostgreSQL (the kernel closes its sockets). */
static void node_kill(struct node *n)
{
    char cmd[128];
    int status;
    assert_true(n->up && n->k.pid > 0);
    kill(n->k.pid, SIGKILL);
    waitpid(n->k.pid, &status, 0);
    n->k.pid = 0;
    kbox_serve_stop(&n->k); /* closes its pipe */
    n->up = false;
    snprintf(cmd, sizeof cmd, "rm -rf %s", n->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", n->dir);
}

/* A checked fact about the database: sql_cond is a boolean SQL expression. */
static bool pg_true(const char *sql_cond)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "DO $$ BEGIN IF NOT coalesce((%s), false) THEN RAISE 'no'; END IF; END $$", sql_cond);
    return pgcluster_sql(&g_pg, sql) == 0;
}

static void wait_pg_true(const char *sql_cond, double timeout_s)
{
    double t0 = now_s();
    while (now_s() - t0 < timeout_s) {
        if (pg_true(sql_cond))
            return;
        usleep(100000);
    }
    fail_msg("postgresql never had: %s", sql_cond);
}

/* Uploads a body of n bytes (malloc'd by the caller) as name. */
static int upload_big(struct node *n, const char *name, const char *text, size_t len, char **out)
{
    size_t cap = len + 512;
    char *body = malloc(cap);
    int head, st;
    assert_non_null(body);
    head = snprintf(body, cap,
                    "--XbOuNdArY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                    "Content-Type: text/plain\r\n\r\n",
                    name);
    memcpy(body + head, text, len);
    static const char tail[] = "\r\n--XbOuNdArY--\r\n";
    memcpy(body + head + len, tail, sizeof tail - 1);
    st = call(n, "POST", "/api/documents", upload_hdrs, body, (size_t)head + len + sizeof tail - 1, out);
    free(body);
    return st;
}

/* A plain-text manual of about `bytes` bytes: numbered sections of varied sentences. */
static char *big_text(size_t bytes, size_t *len)
{
    static const char *const w[] = {"valve", "pressure", "gasket", "turbine", "sensor", "calibrate", "inspect",
                                    "replace", "bearing", "coolant", "filter", "torque", "voltage", "relay",
                                    "housing", "seal", "pump", "nozzle", "flange", "rotor"};
    char *t = malloc(bytes + 256);
    size_t n = 0;
    unsigned x = 12345;
    assert_non_null(t);
    for (int sec = 1; n < bytes; sec++) {
        n += (size_t)snprintf(t + n, bytes + 256 - n, "Section %d\n\n", sec);
        for (int k = 0; k < 12 && n < bytes; k++) {
            x = x * 1103515245u + 12345u;
            n += (size_t)snprintf(t + n, bytes + 256 - n, "Step %d.%d: %s the %s before the %s reaches %u units. ", sec, k,
                                 w[(x >> 8) % 20], w[(x >> 13) % 20], w[(x >> 18) % 20], (x >> 4) % 997);
        }
        n += (size_t)snprintf(t + n, bytes + 256 - n, "\n\n");
    }
    *len = n;
    return t;
}

/* Every document's chunks are exactly ordinals 0..n-1: nothing written twice, nothing missing. */
#define CHUNKS_WHOLE                                                                                                 \
    "NOT EXISTS (SELECT 1 FROM (SELECT document_id, count(*) AS n, count(DISTINCT ordinal) AS d, min(ordinal) AS lo," \
    " max(ordinal) AS hi FROM chunks GROUP BY document_id) c WHERE n <> d OR lo <> 0 OR hi <> n - 1)"

static void check_counts(struct node *n)
{
    char cond[256], *h = health(n);
    snprintf(cond, sizeof cond, "(SELECT count(*) FROM documents) = %lld AND (SELECT count(*) FROM chunks) = %lld",
             (long long)json_int(h, "documents"), (long long)json_int(h, "chunks"));
    free(h);
    assert_true(pg_true(cond));
}

static void test_shared_jobs(void **state)
{
    static struct node a, b, c;
    char *ra = NULL, *text, cond[512];
    size_t len;
    int64_t big_job;
    long pid_a;
    int rc;
    (void)state;
    cluster_start();
    node_start(&a);
    text = big_text(3u << 20, &len);
    rc = upload_big(&a, "manual.txt", text, len, &ra);
    if (rc != 202)
        fail_msg("upload: %d %s", rc, ra);
    free(text);
    big_job = json_int(ra, "job_id");
    free(ra);
    assert_true(big_job > 0);
    assert_int_equal(upload(&a, "tea.txt", "Oolong tea leaves are rolled and partially oxidised.", &ra), 202);
    free(ra);
    assert_int_equal(upload(&a, "coffee.txt", "Arabica beans grow at high altitude in volcanic soil.", &ra), 202);
    free(ra);
    /* the uploads, their bytes and their jobs are in PostgreSQL as soon as they were answered */
    assert_true(pg_true("(SELECT count(*) FROM jobs) = 3 AND (SELECT count(*) FROM originals) = 3"));
    /* kill A while it ingests the manual (ingest.workers=1: the small ones wait behind it) */
    snprintf(cond, sizeof cond, "(SELECT status FROM documents d JOIN jobs j ON j.document_id = d.id WHERE j.id = %lld)"
             " = 'parsing'", (long long)big_job);
    wait_pg_true(cond, 60);
    pid_a = (long)a.k.pid;
    node_kill(&a);
    snprintf(cond, sizeof cond, "(SELECT state FROM jobs WHERE id = %lld) = 'queued'", (long long)big_job);
    assert_true(pg_true(cond)); /* A died mid-job: nothing recorded it done */
    assert_true(pg_true("(SELECT count(*) FROM jobs WHERE state = 'done') < 3"));
    /* B and C finish everything: A's claim died with its session */
    node_start(&b);
    node_start(&c);
    wait_pg_true("(SELECT count(*) FROM jobs WHERE state <> 'done') = 0", 180);
    assert_true(pg_true("(SELECT count(*) FROM documents WHERE status = 'indexed') = 3"));
    assert_true(pg_true("(SELECT count(*) FROM documents) = 3"));
    snprintf(cond, sizeof cond, "NOT EXISTS (SELECT 1 FROM jobs WHERE node = '' OR node LIKE '%%:%ld')",
             pid_a);
    assert_true(pg_true(cond));
    assert_true(pg_true(CHUNKS_WHOLE));
    assert_true(pg_true("(SELECT count(*) FROM chunks) > 100"));
    wait_found(&b, "oolong oxidised", "Oolong");
    wait_found(&c, "arabica altitude", "Arabica");
    wait_found(&c, "calibrate turbine", "manual.txt");
    check_counts(&b);
    check_counts(&c);

    /* six uploads spread over B and C: each done by one job, every document indexed */
    for (int i = 0; i < 6; i++) {
        char name[32], body[160];
        snprintf(name, sizeof name, "note%d.txt", i);
        snprintf(body, sizeof body, "Note %d says the warehouse ships parcel batch %d on weekday %d.", i, i * 7, i);
        assert_int_equal(upload(i % 2 ? &b : &c, name, body, &ra), 202);
        free(ra);
    }
    wait_pg_true("(SELECT count(*) FROM jobs WHERE state <> 'done') = 0 AND (SELECT count(*) FROM jobs) = 9", 60);
    assert_true(pg_true("(SELECT count(*) FROM documents WHERE status = 'indexed') = 9"));
    assert_true(pg_true("(SELECT count(DISTINCT document_id) FROM jobs) = 9"));
    assert_true(pg_true(CHUNKS_WHOLE));
    /* every node lists every node's jobs, and answers for a job another node ran */
    {
        char *jl = NULL, path[64];
        int n_done = 0;
        assert_int_equal(call(&b, "GET", "/api/jobs", admin, NULL, 0, &jl), 200);
        for (const char *p = jl; (p = strstr(p, "\"state\":\"done\"")) != NULL; p++)
            n_done++;
        assert_int_equal(n_done, 9);
        free(jl);
        snprintf(path, sizeof path, "/api/jobs/%lld", (long long)big_job);
        assert_int_equal(call(&c, "GET", path, admin, NULL, 0, &jl), 200);
        assert_non_null(strstr(jl, "\"state\":\"done\""));
        free(jl);
    }
    node_stop(&b);
    node_stop(&c);
    pgcluster_destroy(&g_pg);
}

/* Waits (up to 5 s) until method path on n answers want; fails with the last status otherwise. */
static void wait_status(struct node *n, const char *method, const char *path, const char *const *hdrs,
                        const char *body, int want)
{
    double t0 = now_s();
    int st = 0;
    do {
        st = call(n, method, path, hdrs, body, body ? strlen(body) : 0, NULL);
        if (st == want)
            return;
        usleep(50000);
    } while (now_s() - t0 < 5);
    fail_msg("%s %s: %d, wanted %d", method, path, st, want);
}

/* Logs in on n with login (a JSON body asking for a token) once the account has reached n (5 s);
 * the session token into tok. */
static void login_token(struct node *n, const char *login, char *tok, size_t tok_bytes)
{
    static const char *const jh[] = {"Content-Type: application/json", NULL};
    char *r = NULL, *p;
    wait_status(n, "POST", "/api/login", jh, login, 200);
    assert_int_equal(call(n, "POST", "/api/login", jh, login, strlen(login), &r), 200);
    p = strstr(r, "\"token\":\"");
    assert_non_null(p);
    snprintf(tok, tok_bytes, "%.*s", (int)strcspn(p + 9, "\""), p + 9);
    free(r);
}

/* Accounts, keys, bots and the conversation log shared by two nodes through PostgreSQL. */
static void test_accounts_across_nodes(void **state)
{
    static struct node a, b;
    char tok[256] = "", th[300], secret[128] = "", kh[200], path[64], *r = NULL;
    int64_t key_id;
    (void)state;
    cluster_start();
    node_start(&a);
    node_start(&b);
    /* a user created on A can log in on B; the session B gave is valid on A */
    {
        static const char user[] = "{\"email\":\"ed@example.com\",\"role\":\"editor\",\"password\":\"pass-editor-1\"}";
        assert_int_equal(call(&a, "POST", "/api/users", json_hdr, user, strlen(user), &r), 201);
        free(r);
    }
    login_token(&b, "{\"email\":\"ed@example.com\",\"password\":\"pass-editor-1\",\"token\":true}", tok,
                sizeof tok);
    snprintf(th, sizeof th, "Authorization: Bearer %s", tok);
    {
        const char *const ed[] = {th, NULL}, *const edj[] = {th, "Content-Type: application/json", NULL};
        const char *const key[] = {kh, NULL};
        static const char kbody[] = "{\"name\":\"sync\",\"scopes\":[\"documents:read\"]}";
        char *p;
        wait_status(&a, "GET", "/api/me", ed, NULL, 200);
        /* a key made on A works on B; revoked on A, B refuses it within the sync interval */
        assert_int_equal(call(&a, "POST", "/api/keys", edj, kbody, strlen(kbody), &r), 201);
        p = strstr(r, "\"secret\":\"");
        assert_non_null(p);
        snprintf(secret, sizeof secret, "%.*s", (int)strcspn(p + 10, "\""), p + 10);
        key_id = json_int(r, "id");
        free(r);
        snprintf(kh, sizeof kh, "Authorization: Bearer %s", secret);
        wait_status(&b, "GET", "/api/documents", key, NULL, 200);
        snprintf(path, sizeof path, "/api/keys/%lld", (long long)key_id);
        assert_int_equal(call(&a, "DELETE", path, ed, NULL, 0, NULL), 200);
        {
            double t0 = now_s();
            wait_status(&b, "GET", "/api/documents", key, NULL, 401);
            assert_true(now_s() - t0 < 3); /* store.poll_s = 1, and NOTIFY usually sooner */
        }
    }
    /* a bot created on A serves its public page on B */
    {
        static const char bot[] = "{\"id\":\"shop\",\"name\":\"Shop helper\",\"greeting\":\"Hello shopper!\"}";
        assert_int_equal(call(&a, "POST", "/api/bots", json_hdr, bot, strlen(bot), NULL), 201);
        wait_status(&b, "GET", "/b/shop", NULL, NULL, 200);
        assert_int_equal(call(&b, "GET", "/api/bots/shop", admin, NULL, 0, &r), 200);
        assert_non_null(strstr(r, "Hello shopper!"));
        free(r);
    }
    /* a question asked on A is in B's statistics */
    {
        static const char ask[] = "{\"question\":\"What is the warranty on the espresso grinder?\"}";
        double t0 = now_s();
        bool seen = false;
        assert_int_equal(call(&a, "POST", "/api/ask", json_hdr, ask, strlen(ask), NULL), 200);
        while (!seen && now_s() - t0 < 5) {
            assert_int_equal(call(&b, "GET", "/api/stats", admin, NULL, 0, &r), 200);
            seen = json_int(r, "questions") == 1;
            free(r);
            if (!seen)
                usleep(100000);
        }
        assert_true(seen);
    }
    /* a curated answer written on A answers a paraphrase on B */
    {
        static const char faq[] = "{\"question\":\"How long does delivery to Iceland take?\","
                                  "\"similar_questions\":[\"When will my parcel reach Reykjavik?\"],"
                                  "\"answer\":\"About three weeks by sea freight.\"}";
        static const char ask[] = "{\"question\":\"When does a parcel reach Reykjavik?\"}";
        double t0 = now_s();
        bool curated = false;
        assert_int_equal(call(&a, "POST", "/api/faq", json_hdr, faq, strlen(faq), NULL), 201);
        while (!curated && now_s() - t0 < 5) {
            assert_int_equal(call(&b, "POST", "/api/ask", json_hdr, ask, strlen(ask), &r), 200);
            curated = strstr(r, "\"mode\":\"curated\"") && strstr(r, "three weeks");
            free(r);
            if (!curated)
                usleep(100000);
        }
        assert_true(curated);
    }
    node_stop(&a);
    node_stop(&b);
    pgcluster_destroy(&g_pg);
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Human handoff across nodes (index/pg_handoff.c, the hub's store hook in web/api_handoff.c). */
static void test_handoff_across_nodes(void **state)
{
    static struct node a, b;
    static const char *const pub[] = {"Content-Type: application/json", NULL};
    char tok[256] = "", bh[300], ctok[64] = "", path[128], body[256], *r = NULL, *p;
    const char *bj[3] = {bh, "Content-Type: application/json", NULL};
    struct sse inbox_a, inbox_b, cust, agent_a;
    int64_t id;
    double t0;
    (void)state;
    cluster_start();
    node_start(&a);
    node_start(&b);
    /* agents: the admin token on A, an agent account (made on A) logged in on B */
    {
        static const char user[] = "{\"email\":\"bo@example.com\",\"name\":\"Bo\",\"role\":\"agent\","
                                   "\"password\":\"pass-agent-1\"}";
        static const char login[] = "{\"email\":\"bo@example.com\",\"password\":\"pass-agent-1\",\"token\":true}";
        assert_int_equal(call(&a, "POST", "/api/users", json_hdr, user, strlen(user), NULL), 201);
        login_token(&b, login, tok, sizeof tok);
        snprintf(bh, sizeof bh, "Authorization: Bearer %s", tok);
    }
    /* presence is per node: each node has an Inbox open */
    sse_open(&inbox_a, a.k.port, "/api/inbox/stream", AUTH);
    sse_open(&inbox_b, b.k.port, "/api/inbox/stream", bh);
    assert_true(sse_wait(&inbox_a, "event: inbox", 5000));
    assert_true(sse_wait(&inbox_b, "event: inbox", 5000));
    /* the customer on B asks for a person; A's Inbox stream shows it queued */
    assert_int_equal(call(&b, "POST", "/api/handoff", pub, "{\"trigger\":\"button\"}", strlen("{\"trigger\":\"button\"}"), &r), 200);
    p = strstr(r, "\"token\":\"");
    assert_non_null(p);
    snprintf(ctok, sizeof ctok, "%.*s", (int)strcspn(p + 9, "\""), p + 9);
    id = json_int(r, "id");
    assert_true(id > 0);
    assert_int_equal(json_int(r, "position"), 1);
    free(r);
    assert_true(sse_wait(&inbox_a, "\"state\":\"queued\"", 3000));
    snprintf(path, sizeof path, "/api/handoff/stream?token=%s", ctok);
    sse_open(&cust, b.k.port, path, NULL);
    assert_true(sse_wait(&cust, "id: 1\nevent: state", 5000));
    /* A takes it; Bo on B, whose cache may still say queued, gets 409 from PostgreSQL's decision */
    snprintf(path, sizeof path, "/api/inbox/%lld/take", (long long)id);
    assert_int_equal(call(&a, "POST", path, json_hdr, "{}", 2, NULL), 200);
    assert_int_equal(call(&b, "POST", path, bj, "{}", 2, &r), 409);
    assert_non_null(strstr(r, "taken by"));
    free(r);
    assert_true(sse_wait(&cust, "id: 2\nevent: state", 3000));
    /* A's reply reaches the customer's stream on B within about a second (NOTIFY -> sync -> hook) */
    snprintf(path, sizeof path, "/api/inbox/%lld/messages", (long long)id);
    t0 = now_s();
    assert_int_equal(call(&a, "POST", path, json_hdr, "{\"text\":\"Hello from node A\"}", strlen("{\"text\":\"Hello from node A\"}"), &r), 200);
    assert_non_null(strstr(r, "\"seq\":3"));
    free(r);
    assert_true(sse_wait(&cust, "id: 3\nevent: message", 3000));
    assert_true(sse_wait(&cust, "Hello from node A", 1000));
    fprintf(stderr, "handoff reply A -> customer stream on B: %.3f s\n", now_s() - t0);
    /* the stream dropped; a second reply; resumed with Last-Event-ID: the next event, no repeat */
    sse_close(&cust);
    assert_int_equal(call(&a, "POST", path, json_hdr, "{\"text\":\"Which model?\"}", strlen("{\"text\":\"Which model?\"}"), NULL), 200);
    snprintf(path, sizeof path, "/api/handoff/stream?token=%s", ctok);
    sse_open(&cust, b.k.port, path, "Last-Event-ID: 3");
    assert_true(sse_wait(&cust, "id: 4\nevent: message", 5000));
    assert_true(sse_wait(&cust, "Which model?", 1000));
    assert_null(strstr(cust.buf, "id: 3\n"));
    /* the agent's conversation stream on A gets the customer's reply written on B */
    snprintf(path, sizeof path, "/api/inbox/%lld/stream", (long long)id);
    sse_open(&agent_a, a.k.port, path, AUTH);
    assert_true(sse_wait(&agent_a, "id: 4\nevent: message", 5000));
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"text\":\"The KX-200\"}", ctok);
    assert_int_equal(call(&b, "POST", "/api/handoff/messages", pub, body, strlen(body), &r), 200);
    assert_non_null(strstr(r, "\"seq\":5"));
    free(r);
    assert_true(sse_wait(&agent_a, "id: 5\nevent: message", 3000));
    assert_true(sse_wait(&agent_a, "The KX-200", 1000));
    /* Bo cannot write to it; A closes it; the customer on B sees it closed */
    snprintf(path, sizeof path, "/api/inbox/%lld/messages", (long long)id);
    assert_int_equal(call(&b, "POST", path, bj, "{\"text\":\"me too\"}", strlen("{\"text\":\"me too\"}"), NULL), 403);
    snprintf(path, sizeof path, "/api/inbox/%lld/close", (long long)id);
    assert_int_equal(call(&a, "POST", path, json_hdr, "{}", 2, NULL), 200);
    assert_true(sse_wait(&cust, "id: 6\nevent: state", 3000));
    assert_true(sse_wait(&cust, "\"text\":\"closed\"", 1000));
    /* counts after: both nodes hold the same six events, none of the refused writes */
    snprintf(path, sizeof path, "/api/inbox/%lld", (long long)id);
    assert_int_equal(call(&a, "GET", path, admin, NULL, 0, &r), 200);
    assert_int_equal(count_of(r, "\"seq\":"), 6);
    assert_null(strstr(r, "me too"));
    free(r);
    t0 = now_s();
    for (;;) {
        int n;
        assert_int_equal(call(&b, "GET", path, admin, NULL, 0, &r), 200);
        n = count_of(r, "\"seq\":");
        assert_null(strstr(r, "me too"));
        free(r);
        if (n == 6)
            break;
        assert_true(now_s() - t0 < 5);
        usleep(50000);
    }
    sse_close(&agent_a);
    sse_close(&cust);
    sse_close(&inbox_b);
    sse_close(&inbox_a);
    node_stop(&a);
    node_stop(&b);
    pgcluster_destroy(&g_pg);
}

/* Waits (up to timeout_s) until GET path on n answers 200 holding needle (another status meanwhile:
 * e.g. a collection B has not applied yet); the seconds it took, or fails. */
static double wait_body(struct node *n, const char *path, const char *needle, double timeout_s)
{
    double t0 = now_s();
    char *r = NULL;
    for (;;) {
        int st = call(n, "GET", path, admin, NULL, 0, &r);
        bool hit = st == 200 && strstr(r, needle) != NULL;
        if (!hit && now_s() - t0 > timeout_s)
            fail_msg("GET %s: %d, no %s within %.0f s: %s", path, st, needle, timeout_s, r);
        free(r);
        if (hit)
            return now_s() - t0;
        usleep(100000);
    }
}

/* Presence and collections' handoff settings shared through PostgreSQL (index/pg_nodes.c,
 * pg_accounts.c; PG schema 7). */
static void test_presence_across_nodes(void **state)
{
    static struct node a, b;
    static const char *const pub[] = {"Content-Type: application/json", NULL};
    char path[128], *r = NULL;
    struct sse inbox_a;
    int64_t hr;
    double t;
    (void)state;
    cluster_start();
    node_start(&a);
    node_start(&b);
    /* nobody's Inbox is open: B offers no person */
    assert_int_equal(call(&b, "GET", "/api/handoff/status", pub, NULL, 0, &r), 200);
    assert_non_null(strstr(r, "\"reason\":\"offline\""));
    free(r);
    /* an agent's Inbox open on A: a customer of B is offered a person (one agent, counted once) */
    sse_open(&inbox_a, a.k.port, "/api/inbox/stream", AUTH);
    assert_true(sse_wait(&inbox_a, "event: inbox", 5000));
    t = wait_body(&b, "/api/handoff/status", "\"live\":true", 10);
    fprintf(stderr, "presence: Inbox opened on A, offered on B after %.2f s\n", t);
    assert_int_equal(call(&b, "GET", "/api/handoff/status", pub, NULL, 0, &r), 200);
    assert_int_equal(json_int(r, "agents_online"), 1);
    free(r);
    assert_int_equal(call(&b, "POST", "/api/handoff", pub, "{\"trigger\":\"button\"}", strlen("{\"trigger\":\"button\"}"),
                          &r), 200);
    assert_true(json_int(r, "id") > 0);
    free(r);
    assert_int_equal(call(&a, "GET", "/api/handoff/status", pub, NULL, 0, &r), 200);
    assert_int_equal(json_int(r, "agents_online"), 1); /* A counts its own agent, not twice */
    free(r);
    /* a PUT /api/collections/ID/handoff on A changes what B offers for that collection */
    assert_int_equal(call(&a, "POST", "/api/collections", json_hdr, "{\"name\":\"hr\"}", strlen("{\"name\":\"hr\"}"),
                          &r), 201);
    hr = json_int(r, "id");
    free(r);
    wait_body(&b, "/api/handoff/status?collection=hr", "\"live\":true", 5);
    snprintf(path, sizeof path, "/api/collections/%lld/handoff", (long long)hr);
    assert_int_equal(call(&a, "PUT", path, json_hdr, "{\"handoff\":false}", strlen("{\"handoff\":false}"), NULL), 200);
    t = wait_body(&b, "/api/handoff/status?collection=hr", "\"reason\":\"disabled\"", 5);
    fprintf(stderr, "collection handoff off on A, seen on B after %.2f s\n", t);
    assert_int_equal(call(&b, "GET", path, admin, NULL, 0, &r), 200);
    assert_non_null(strstr(r, "\"handoff\":false"));
    free(r);
    assert_int_equal(call(&b, "GET", "/api/handoff/status", pub, NULL, 0, &r), 200);
    assert_non_null(strstr(r, "\"live\":true")); /* the other collections keep theirs */
    free(r);
    /* the agent leaves A: B stops offering within the stated time (A notices within two Inbox pings,
     * 10 s; then two heartbeats, 4 s) */
    sse_close(&inbox_a);
    t = wait_body(&b, "/api/handoff/status", "\"reason\":\"offline\"", 20);
    fprintf(stderr, "presence: Inbox closed on A, B stopped offering after %.2f s\n", t);
    /* A killed with its agent's Inbox open: its presence rows expire (10 s) and B stops offering */
    sse_open(&inbox_a, a.k.port, "/api/inbox/stream", AUTH);
    assert_true(sse_wait(&inbox_a, "event: inbox", 5000));
    wait_body(&b, "/api/handoff/status", "\"live\":true", 10);
    node_kill(&a);
    t = wait_body(&b, "/api/handoff/status", "\"reason\":\"offline\"", 20);
    fprintf(stderr, "presence: node A killed, B stopped offering after %.2f s\n", t);
    sse_close(&inbox_a);
    node_stop(&a);
    node_stop(&b);
    pgcluster_destroy(&g_pg);
}

/* Answers logged while PostgreSQL is down are spooled on the node and reach PostgreSQL and the
 * other node once it is back, each once (index/pg_rows.c's spool). */
static void test_spool_across_nodes(void **state)
{
    static struct node a, b;
    static const char *const qs[] = {"What is the warranty on the espresso grinder?",
                                     "How do I descale the machine?", "Where is my order?"};
    char *r = NULL, body[256];
    (void)state;
    cluster_start();
    node_start(&a);
    node_start(&b);
    assert_int_equal(call(&a, "POST", "/api/ask", json_hdr, "{\"question\":\"first, while up\"}",
                          strlen("{\"question\":\"first, while up\"}"), NULL), 200);
    wait_body(&b, "/api/stats", "\"questions\":1", 5);
    /* PostgreSQL down: questions on A still answer (from the cache); their log rows wait on A */
    assert_int_equal(pgcluster_stop(&g_pg), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof body, "{\"question\":\"%s\"}", qs[i]);
        assert_int_equal(call(&a, "POST", "/api/ask", json_hdr, body, strlen(body), &r), 200);
        assert_non_null(strstr(r, "\"answer\""));
        free(r);
    }
    wait_body(&a, "/api/health", "\"spooled\":3", 5); /* the log writer's turn: spooled, not lost */
    assert_int_equal(call(&b, "GET", "/api/stats", admin, NULL, 0, &r), 200);
    assert_int_equal(json_int(r, "questions"), 1);
    free(r);
    /* PostgreSQL back: the rows reach it and node B, once each; A's own cache has them too */
    assert_int_equal(pgcluster_resume(&g_pg), 0);
    fprintf(stderr, "spool: flushed and on B after %.2f s\n", wait_body(&b, "/api/stats", "\"questions\":4", 30));
    wait_body(&a, "/api/stats", "\"questions\":4", 10);
    wait_body(&a, "/api/health", "\"spooled\":0", 5);
    wait_pg_true("(SELECT count(*) FROM messages) = 4", 5);
    wait_pg_true("(SELECT count(*) FROM messages WHERE question = 'How do I descale the machine?') = 1", 1);
    sleep(2); /* more polls: nothing is sent twice */
    assert_true(pg_true("(SELECT count(*) FROM messages) = 4"));
    assert_int_equal(call(&b, "GET", "/api/stats", admin, NULL, 0, &r), 200);
    assert_int_equal(json_int(r, "questions"), 4);
    free(r);
    node_stop(&a);
    node_stop(&b);
    pgcluster_destroy(&g_pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_nodes),
        cmocka_unit_test(test_shared_jobs),
        cmocka_unit_test(test_accounts_across_nodes),
        cmocka_unit_test(test_handoff_across_nodes),
        cmocka_unit_test(test_presence_across_nodes),
        cmocka_unit_test(test_spool_across_nodes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (int i = 0; i < 8; i++)
        if (g_nodes[i])
            node_stop(g_nodes[i]);
    pgcluster_destroy(&g_pg); /* after a failed assertion too */
    return rc;
}
