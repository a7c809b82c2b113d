/* bench/bench_auth.c KBOX SRC_DIR [N]: what an account check costs next to the search it guards
 * (issue #16; a benchmark, never a test). Ingests SRC_DIR/samples/en and samples/zh with `KBOX
 * ingest` into a fresh data directory, opens it in-process, adds a viewer, a session and an "ask"
 * key, and then times, interleaved round by round so machine noise hits all of them alike:
 *   - web_auth_identify with "Bearer kbx_..." (prefix lookup, SHA-256, constant-time compare, the
 *     account row) and with "Bearer <session id>" (SHA-256, session row, account row);
 *   - rag_search (hybrid, top_k 6) over the bench queries of bench/web/search.lua: the work of a
 *     POST /api/search, without HTTP;
 *   - web_password_verify (Argon2id, m=64 MiB t=2 p=1): a login attempt's hash.
 * The HTTP layer does the identify once per request, so identify / (search + identify) bounds its
 * share of /api/search's CPU time (HTTP parsing and JSON encoding would only lower it). Prints
 * Markdown for docs/BENCHMARKS.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "index/index.h"
#include "rag/rag.h"
#include "web/web_int.h"

static const char *const queries[] = {"refund", "annual leave days", "warranty period", "delivery zones",
                                      "descale the kettle", "how do I return a product", "grinder burr size",
                                      "退货", "保修期"};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

static void die(const char *what, const struct kb_error *e)
{
    fprintf(stderr, "bench_auth: %s: %s\n", what, e->msg);
    exit(1);
}

/* One identify; returns seconds. */
static double identify_once(struct web_ctx *ctx, const char *authz, const struct config *cfg)
{
    struct web_req req;
    struct kb_error e = {0};
    double t0;
    memset(&req, 0, sizeof req);
    req.ctx = ctx;
    snprintf(req.client_ip, sizeof req.client_ip, "127.0.0.1");
    kb_arena_init(&req.arena, 0, 0);
    t0 = kb_now_s();
    if (web_auth_identify(&req, authz, cfg, &e) || req.who.role != WEB_ROLE_VIEWER)
        die("identify", &e);
    t0 = kb_now_s() - t0;
    kb_arena_release(&req.arena);
    return t0;
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/kbox-bench-auth-XXXXXX", cmd[4096], hash[WEB_PW_HASH_BYTES], sid[65], sh[65];
    char key[64], prefix[13], rest[41], kh[65], authk[100], auths[100];
    int64_t n_arg = 2000;
    int n, n_pw = 10;
    struct config cfg;
    struct rag *rag;
    struct kb_error e = {0};
    struct web_ctx ctx;
    int64_t uid = 0, kid = 0;
    double *tk, *ts, *tq, *tp;
    if (argc > 3 && (kb_parse_i64(argv[3], &n_arg) || n_arg > 1000000))
        n_arg = 0;
    n = (int)n_arg;
    if (argc < 3 || n < 10) {
        fprintf(stderr, "usage: bench_auth KBOX SRC_DIR [N >= 10]\n");
        return 2;
    }
    if (!mkdtemp(dir))
        return 1;
    snprintf(cmd, sizeof cmd, "'%s' --data-dir '%s' --set log.level=warn ingest '%s/samples/en' '%s/samples/zh' >/dev/null",
             argv[1], dir, argv[2], argv[2]);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_auth: ingest failed: %s\n", cmd);
        return 1;
    }
    config_init(&cfg);
    if (config_set(&cfg, "data.dir", dir, CONFIG_SRC_FLAG, &e) || rag_open(&rag, &cfg, &e))
        die("open", &e);
    memset(&ctx, 0, sizeof ctx);
    ctx.rag = rag;
    web_session_init(&ctx);
    if (web_password_hash("bench-password-1", hash, &e))
        die("hash", &e);
    struct index_user u = {.email = "v@example.com", .name = "", .role = "viewer", .pw_hash = hash, .collections = ""};
    if (index_user_add(rag_store(rag), &u, &uid, &e))
        die("user", &e);
    web_random_hex(sid, 64);
    web_sha256_hex(sid, sh);
    if (index_session_add(rag_store(rag), sh, uid, "csrf", (int64_t)time(NULL), &e))
        die("session", &e);
    web_random_hex(rest, 8);
    snprintf(prefix, sizeof prefix, "kbx_%s", rest);
    web_random_hex(rest, 40);
    snprintf(key, sizeof key, "%s_%s", prefix, rest);
    web_sha256_hex(key, kh);
    struct index_api_key k = {.prefix = prefix, .hash = kh, .name = "bench", .user_id = uid, .scopes = "ask"};
    if (index_key_add(rag_store(rag), &k, &kid, &e))
        die("key", &e);
    snprintf(authk, sizeof authk, "Bearer %s", key);
    snprintf(auths, sizeof auths, "Bearer %s", sid);
    tk = calloc((size_t)n, sizeof *tk);
    ts = calloc((size_t)n, sizeof *ts);
    tq = calloc((size_t)n, sizeof *tq);
    tp = calloc((size_t)n_pw, sizeof *tp);
    const struct config *c = rag_config_get(rag);
    for (int i = 0; i < n; i++) {
        struct rag_search_opts o = {.query = queries[i % (int)KB_ARRAY_LEN(queries)], .top_k = 6,
                                    .mode = RAG_SEARCH_HYBRID};
        struct rag_hit *h = NULL;
        int nh = 0;
        double t0;
        tk[i] = identify_once(&ctx, authk, c);
        ts[i] = identify_once(&ctx, auths, c);
        t0 = kb_now_s();
        if (rag_search(rag, &o, &h, &nh, &e))
            die("search", &e);
        tq[i] = kb_now_s() - t0;
        rag_hits_free(h, nh);
    }
    for (int i = 0; i < n_pw; i++) {
        double t0 = kb_now_s();
        if (!web_password_verify(hash, "bench-password-1"))
            die("verify", &e);
        tp[i] = kb_now_s() - t0;
    }
    rag_config_put(rag, c);
    double mk = median(tk, n), ms = median(ts, n), mq = median(tq, n), mp = median(tp, n_pw);
    double load[3] = {0, 0, 0};
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (fscanf(lf, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = 0;
        fclose(lf);
    }
    printf("bench_auth: %d rounds (identify by key, identify by session, search), %d Argon2id verifications; "
           "load %.1f %.1f %.1f\n\n",
           n, n_pw, load[0], load[1], load[2]);
    printf("| operation | median | share of a search request |\n|---|---|---|\n");
    printf("| rag_search (hybrid, top_k 6, 9 queries in turn) | %.0f us | |\n", mq * 1e6);
    printf("| web_auth_identify, API key | %.1f us | %.2f%% |\n", mk * 1e6, 100.0 * mk / (mq + mk));
    printf("| web_auth_identify, session | %.1f us | %.2f%% |\n", ms * 1e6, 100.0 * ms / (mq + ms));
    printf("| web_password_verify (Argon2id m=64 MiB t=2 p=1) | %.0f ms | |\n", mp * 1e3);
    free(tk);
    free(ts);
    free(tq);
    free(tp);
    web_session_release(&ctx);
    rag_close(rag);
    config_release(&cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
