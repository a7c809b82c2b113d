/* web/web_int.h: what the files of web/ share: the per-request and per-response structs, the route
 * table entry, deferred tasks (answers run on their own thread while the connection is suspended),
 * auth, rate limits, metrics and the embedded static assets.
 *
 * Flow of one request: server.c (libmicrohttpd) builds a struct web_req, asks routes.c for the
 * route (404/405), checks auth and the body cap before reading the body, reads the body (JSON into
 * memory up to the cap; multipart uploads streamed to temporary files), then calls the route's
 * handler, which fills a struct web_resp. server.c turns it into an HTTP response and writes one
 * access-log line. Everything a handler allocates for one request lives in req->arena.
 *
 * Threads: handlers run on libmicrohttpd's worker threads; struct web_ctx is shared and read-only
 * after start except for the members that carry their own lock (rate limiter, metrics, settings). */
#ifndef KB_WEB_WEB_INT_H
#define KB_WEB_WEB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "config/config.h"
#include "rag/rag.h"
#include "web/web.h"

#define WEB_TOKEN_BYTES 65       /* 64 hex characters + NUL */
#define WEB_MAX_UPLOADS 64       /* files in one multipart request */
#define WEB_MAX_HEADERS 6        /* extra response headers a handler may set */
#define WEB_RATE_SLOTS 1024      /* clients tracked by the per-IP rate limiter */
#define WEB_MAX_TASKS 512        /* answers running at once on task threads; more get 503 (remote
                                  * backends stream hundreds at once: docs/BENCHMARKS.md) */
#define WEB_CONN_LIMIT 1024      /* open connections in all */
#define WEB_MAX_STREAMS WEB_CONN_LIMIT /* threadless streams open at once (handoff SSE) */
#define WEB_CONN_RESERVE 64      /* of which the last are kept for loopback clients (health, admin) */
struct sockaddr;
/* True for 127.0.0.0/8, ::1 and ::ffff:127.x (IPv4 loopback clients of a dual-stack listener). */
bool web_is_loopback(const struct sockaddr *sa);
/* The accept policy (server.c): a connection with n_open already open is admitted below
 * WEB_CONN_LIMIT - WEB_CONN_RESERVE, and above only from loopback. Tests: test_web_units. */
bool web_conn_admit(int n_open, const struct sockaddr *addr);
#define WEB_TOKEN_MIN 32         /* shortest admin token accepted (server.admin_token) */
#define WEB_LOGIN_FAILS_PER_MIN 20 /* failed break-glass token attempts per IP and minute before 429,
                                      whatever server.rate_limit_per_min says */
#define WEB_LOCK_SLOTS 4096      /* accounts (by email) tracked for login lockout */

/* ---- rate limiter (auth.c) ------------------------------------------------------------------------ */

struct web_rate_slot {
    char ip[48];        /* textual client address, "" when free */
    int64_t window;     /* unix minute the count belongs to */
    int64_t count;      /* requests in that minute */
};

struct web_rate {
    pthread_mutex_t lock;
    struct web_rate_slot slots[WEB_RATE_SLOTS]; /* open hashing by ip; collisions evict stale */
};

/* ---- metrics (metrics.c) -------------------------------------------------------------------------- */

/* Answer modes counted for /metrics (kbox_answers_total{mode}); the last one, "other", takes any
 * mode not listed. metrics.c holds the names. */
#define WEB_N_ANSWER_MODES 6
#define WEB_N_BUCKETS 10
struct web_route_stats {
    int64_t n_2xx, n_4xx, n_5xx;
    int64_t buckets[WEB_N_BUCKETS]; /* cumulative counts of requests at or under web_buckets_s[i] */
    double sum_s;                   /* total seconds */
};

/* ---- accounts: roles, principals, lockout (session.c) ------------------------------------------- */

/* Roles in rising order of rights; a route states the least one it needs. UNSET (0) is what a route
 * entry without a role gets, and admission refuses it (a route must say who may call it). */
enum web_role {
    WEB_ROLE_UNSET = 0,
    WEB_ROLE_PUBLIC,  /* nobody authenticated */
    WEB_ROLE_VIEWER,  /* chat and hit testing */
    WEB_ROLE_AGENT,   /* + the inbox and review list, documents read-only */
    WEB_ROLE_EDITOR,  /* + documents, collections, FAQ and curated answers, API keys */
    WEB_ROLE_OWNER,   /* everything: users, settings, audit */
};
const char *web_role_name(enum web_role r);   /* static; "public" for PUBLIC, "" for UNSET */
enum web_role web_role_parse(const char *name); /* UNSET when unknown */

/* Who made a request: filled by web_auth_identify before the route's check. */
struct web_principal {
    enum web_role role;       /* WEB_ROLE_PUBLIC when nobody */
    int64_t user_id;          /* the account (also a key's creator); 0 for the break-glass token */
    int64_t key_id;           /* > 0: authenticated by an API key */
    int64_t key_rate;         /* the key's requests per minute; 0 = none of its own */
    char actor[200];          /* for the audit log: "user:EMAIL", "key:PREFIX", "admin-token" */
    char scopes[512];         /* a key's scopes, comma-separated */
    char collections[512];    /* collection ids the account may see, comma-separated; "" = all */
    char session_hash[65];    /* SHA-256 of the session id when authenticated by one, else "" */
    char csrf[65];            /* the session's CSRF token */
    bool via_cookie;          /* the session came in a cookie (state changes need X-CSRF-Token) */
};

struct web_lock_slot {
    uint64_t who;             /* FNV-1a 64 of the lower-cased email; 0 when free */
    int64_t fails;            /* failed logins in a row */
    int64_t locked_until;     /* unix s; 0 when not locked */
};

/* ---- the shared context --------------------------------------------------------------------------- */

struct web_route;

struct web_ctx {
    struct rag *rag;                 /* borrowed; outlives the server */
    char admin_token[WEB_TOKEN_BYTES]; /* break-glass token (auth.admin_token); "" = none */
    char setup_token[WEB_TOKEN_BYTES]; /* one-time owner setup token; "" once used or not needed;
                                          setup_lock */
    pthread_mutex_t setup_lock;      /* also guards dummy_hash */
    char dummy_hash[WEB_PW_HASH_BYTES]; /* Argon2id of a random password, for unknown emails */
    bool tls;                        /* serving HTTPS: cookies get Secure */
    pthread_mutex_t lock_lock;       /* guards locks[] */
    struct web_lock_slot *locks;     /* WEB_LOCK_SLOTS; login lockout by account; owned */
    struct web_rate login_fail_rate; /* failed account logins per IP (auth.login_fails_per_ip_min) */
    struct web_rate key_rate;        /* requests per API key and minute (its rate_per_min) */
    int64_t n_login_hashes;          /* Argon2id verifications done by logins; atomic */
    char tmp_dir[4096];              /* <data_dir>/uploads.tmp: uploads land here before rag_upload */
    struct web_rate rate;
    struct web_rate login_rate;      /* failed admin logins per IP: WEB_LOGIN_FAILS_PER_MIN, always on */
    char allowed_hosts[4096];        /* comma-separated Host values: server.allowed_hosts plus the
                                        loopback and bind names; written before the daemon starts */
    char trust_proxy[4096];          /* server.trust_proxy: proxy addresses whose X-Forwarded-For
                                        names the client (web_client_ip); written before start */
    int hosts_port;                  /* the port listened on, for list entries with port 0; set
                                        (atomically) once the daemon runs */
    pthread_mutex_t metrics_lock;
    struct web_route_stats *stats;   /* one per route + one for "unmatched"; owned */
    int64_t n_requests;              /* all requests, for ids */
    int64_t answers_by_mode[WEB_N_ANSWER_MODES]; /* answers given, by web_answer_modes[]; metrics_lock */
    int64_t votes_up, votes_down;    /* feedback recorded (POST /api/feedback); metrics_lock */
    double started_s;                /* kb_now_s() at start */
    struct web_server *server;       /* back pointer for tasks */
    struct web_hub *hub;             /* human handoff: live wake-ups and agents' presence
                                        (api_handoff.c); owned; its own lock */
};

/* ---- request and response ------------------------------------------------------------------------ */

struct web_upload {
    char *name;      /* file name from the multipart part, sanitised; arena */
    char *tmp_path;  /* temporary file holding its bytes; arena; "" once handed to rag */
    int64_t bytes;
};

struct web_req {
    struct web_ctx *ctx;
    const struct web_route *route;  /* matched route */
    const char *method;             /* borrowed from the server */
    const char *path;               /* decoded URL path; borrowed */
    int64_t ids[2];                 /* values of the {id} segments, in order */
    int n_ids;
    const char *body;               /* request body (JSON routes), NUL-terminated; NULL when none */
    size_t body_bytes;
    struct web_upload uploads[WEB_MAX_UPLOADS]; /* upload routes */
    int n_uploads;
    char client_ip[48];
    bool admin;                     /* owner rights (an owner's session or key, or the break-glass token) */
    struct web_principal who;       /* who is asking (routes.c, session.c) */
    struct kb_arena arena;          /* everything allocated for this request */
    void *conn;                     /* server.c's connection state */
};

struct web_header {
    const char *name, *value;       /* static or arena */
};

struct web_task;

struct web_resp {
    int status;                     /* HTTP status */
    const char *content_type;       /* static */
    struct kb_buf body;             /* response bytes */
    struct web_header headers[WEB_MAX_HEADERS];
    int n_headers;
    int fd;                         /* >= 0: send this file (taken by the server) instead of body */
    int64_t fd_bytes;
    struct web_task *task;          /* non-NULL: the answer comes from a deferred task */
};

/* A route handler fills resp (status 200 and JSON by default) and returns 0, or returns a KB_E*
 * code with err set; the server then sends {"error":{"code","message"}} with the mapped status. */
typedef int (*web_handler_fn)(struct web_req *req, struct web_resp *resp, struct kb_error *err);

enum web_auth {
    WEB_AUTH_NONE,   /* anyone: static files, health, login */
    WEB_AUTH_ASK,    /* public when server.public_ask (then rate-limited per IP), else route.role */
    WEB_AUTH_ADMIN,  /* an account's session, an API key or the break-glass token with route.role */
};

/* Body caps: a byte count, or one of these. */
#define WEB_BODY_NONE 0            /* no body allowed */
#define WEB_BODY_CFG (-1)          /* server.max_body_bytes */
#define WEB_BODY_UPLOAD (-2)       /* multipart; server.max_upload_bytes; streamed to disk */

struct web_route {
    const char *method;            /* "GET", "POST", ... */
    const char *path;              /* "/api/documents/{id}/file"; {id} matches an integer segment; a
                                      trailing "*" matches any rest (static files) */
    web_handler_fn handler;
    int64_t max_body_bytes;        /* cap, or WEB_BODY_* */
    enum web_auth auth;
    const char *name;              /* metrics label */
    enum web_role role;            /* the least role that may call it (PUBLIC for AUTH_NONE routes) */
    const char *scope;             /* the scope an API key needs ("documents:write"); NULL: keys may
                                      not call it (sessions and the break-glass token only) */
};

/* routes.c */
enum web_match { WEB_MATCH_OK, WEB_MATCH_NO_PATH, WEB_MATCH_NO_METHOD };
/* Finds the route for method+path and fills req->ids. Returns the route index in *idx. */
enum web_match web_route_find(const char *method, const char *path, int64_t ids[2], int *n_ids,
                              int *idx);
const struct web_route *web_route_at(int idx);
int web_n_routes(void);
/* Auth and rate limit for a matched request; 0 or KB_EAUTH / KB_EFORBIDDEN / KB_ERATE. */
int web_route_admit(struct web_req *req, const char *authorization, const char *origin,
                    const char *host, struct kb_error *err);
/* The byte cap of a route under the current config. */
int64_t web_route_cap(const struct web_route *rt, const struct config *cfg);
/* CORS: true when origin (nullable) may call the API; writes the allow headers into resp. */
bool web_cors_allowed(struct web_ctx *ctx, const char *origin, const char *host);
void web_cors_headers(struct web_req *req, struct web_resp *resp, const char *origin);

/* True when the Host header (nullable: HTTP/1.0 without Host) names this server: an entry of
 * ctx->allowed_hosts ("*" = any), names compared case-insensitively. A Host without a port means
 * port 80; an entry without a port matches any port, and an entry with port 0 the port listened on. */
bool web_host_allowed(const struct web_ctx *ctx, const char *host);

/* auth.c */
int web_token_load(struct web_ctx *ctx, const struct config *cfg, struct kb_error *err);
void web_sha256_hex(const char *s, char out[65]); /* SHA-256 of a string, as 64 hex + NUL */
bool web_token_equal(const char *a, const char *b); /* constant time in the token length */
/* Counts a request from ip; false when over limit_per_min this minute (0: no limit). */
bool web_rate_allow(struct web_rate *rl, const char *ip, int64_t limit_per_min, int64_t now_s);
/* Charges cost units (>= 1) to ip's minute; false when its budget was already spent. */
bool web_rate_charge(struct web_rate *rl, const char *ip, int64_t cost, int64_t limit_per_min, int64_t now_s);
/* The limiter's key for a client address: IPv4 as is (also when IPv4-mapped), IPv6 as its /64
 * ("2001:db8:1:2::/64"). */
void web_rate_key(const char *ip, char *out, size_t out_bytes);
void web_rate_init(struct web_rate *rl);
void web_rate_release(struct web_rate *rl);
/* True when origin appears in the comma-separated list ("*" allows any). */
bool web_origin_listed(const char *list, const char *origin);
void web_random_hex(char *out, size_t n_hex); /* n_hex random hex chars + NUL */

/* metrics.c */
/* tls.c: HTTPS credentials (server.tls_cert, server.tls_key). open loads and checks both files
 * (KB_ECONFIG naming the file and the reason); reload rereads them, keeping the old ones on failure;
 * the callback (a gnutls_certificate_retrieve_function2 *) goes to MHD_OPTION_HTTPS_CERT_CALLBACK.
 * Caller owns *out; close with web_tls_close() after the daemon stopped (NULL ok). */
struct web_tls;
int web_tls_open(struct web_tls **out, const char *cert_path, const char *key_path, struct kb_error *err);
int web_tls_reload(struct web_tls *t, struct kb_error *err);
void *web_tls_callback(void);
void web_tls_close(struct web_tls *t);

void web_metrics_init(struct web_ctx *ctx);
void web_metrics_release(struct web_ctx *ctx);
void web_metrics_observe(struct web_ctx *ctx, int route_idx, int status, double seconds);
int web_metrics_render(struct web_ctx *ctx, struct kb_buf *out);
/* Counts an answer by its mode (a->fallback counts as "fallback"), and a recorded vote (1 or -1). */
void web_metrics_answer(struct web_ctx *ctx, const struct rag_answer *a);
void web_metrics_vote(struct web_ctx *ctx, int vote);

/* static.c: assets compiled in from web/static/ (the table is generated at build time). */
struct web_asset {
    const char *name;             /* "index.html", "app.js", ... */
    const unsigned char *data;
    size_t n_bytes;
};
extern const struct web_asset web_assets[];
extern const int web_n_assets;
const struct web_asset *web_asset_find(const char *name);
const char *web_mime_for(const char *name);

/* ---- JSON ---------------------------------------------------------------------------------------------- */

/* Request bodies are decoded with kb_json_decode (base/json.h, field tables of struct kb_jfield);
 * responses are written with base's struct jw, and rag's result structs with rag_*_json. */

/* The error body {"error":{"code":"EINVAL","message":"..."}} for code/err. */
void web_error_body(struct kb_buf *b, int code, const struct kb_error *err);
/* Resolves a collection given by name or id text (NULL or "" -> 0: default/all). */
int web_collection_resolve(struct web_ctx *ctx, const char *idname, int64_t *id, struct kb_error *err);
int web_resp_header(struct web_req *req, struct web_resp *resp, const char *name, const char *value);

/* ---- answer tasks (api_common.c): what POST /api/ask and /v1/chat/completions share ---------------------- */

/* One question for rag_ask, asked on a task thread. The strings are copies (the request may end
 * before the task); a handler's job struct embeds this as its first member. */
struct web_ask_job {
    struct rag *rag;             /* borrowed; outlives the server */
    char *question;              /* owned */
    char *conversation_id;       /* owned; NULL when none */
    int64_t collection_id;       /* 0: all */
    int top_k;                   /* 0: index.top_k */
    bool stream;                 /* answer pieces go out as they come */
    bool emitted;                /* a stream event went out: errors must be events now */
    const char *channel;         /* the conversation log's channel ("ui", "widget", "api", "openai"); static */
    char client_ip[48];          /* the asking client's address (logged with log.store_ip) */
    char log_secret[33];         /* the conversation's secret from an earlier answer, or "" */
    char bot[RAG_BOT_ID_MAX + 1]; /* answer as this bot (rag_ask_opts.bot_id), or "" */
    struct web_task *task;       /* set by web_ask_job_run */
};
/* Fills j with copies of question and conversation_id (nullable; "" counts as none).
 * KB_EINVAL when conversation_id is longer than 128 bytes (then j holds nothing). */
int web_ask_job_init(struct web_ask_job *j, struct rag *rag, const char *question, const char *conversation_id,
                     struct kb_error *err);
void web_ask_job_release(struct web_ask_job *j);
/* Runs rag_ask on task t (pieces to on_piece(ud, ...) when j->stream). On failure before any
 * output the task's response is the error body with its status; after output (j->emitted) body
 * holds the error JSON for the caller to send as a stream event. Returns rag_ask's code. */
int web_ask_job_run(struct web_ask_job *j, struct web_task *t, rag_stream_fn on_piece, void *ud,
                    struct rag_answer *a, struct kb_buf *body);

/* ---- server helpers a handler may use (server.c) ----------------------------------------------------- */

/* A query-string argument or request header (borrowed; valid during the request), or NULL. */
const char *web_req_query(struct web_req *req, const char *key);
const char *web_req_header(struct web_req *req, const char *name);

/* Deferred tasks: fn runs on its own thread while the connection waits; it writes its answer with
 * web_task_emit (SSE bytes, flushed at once) and/or web_task_finish (one complete response).
 * ud is owned by the task and freed with free_ud when the task ends. */
typedef void (*web_task_fn)(struct web_task *t, void *ud);
/* Starts fn and points resp->task at it. KB_EBUSY when WEB_MAX_TASKS are running. */
int web_task_start(struct web_req *req, struct web_resp *resp, web_task_fn fn, void *ud,
                   void (*free_ud)(void *), struct kb_error *err);
/* Appends stream bytes (the response becomes 200 text/event-stream at the first call). Returns
 * nonzero when the client went away or the server stops: the task should cancel. */
int web_task_emit(struct web_task *t, const char *p, size_t n);
/* The complete response when nothing was emitted (status and JSON body); ignored after emits. */
void web_task_finish(struct web_task *t, int status, const char *content_type, struct kb_buf *body);
struct web_ctx *web_task_ctx(struct web_task *t);
/* True once the client went away or the server began to stop (a long-lived stream polls this while
 * idle and ends, so it does not hold the shutdown for the drain period). */
bool web_task_stopping(struct web_task *t);
/* Threadless streams (long-lived SSE that must not hold a thread each): the handler opens one and
 * hands it to an owner that writes with web_task_emit from a thread of its own and ends it with
 * web_stream_close; between writes the connection is suspended and costs no thread. The owner
 * polls web_task_stopping and closes its streams when the server stops (web_server_stop waits for
 * them). KB_EBUSY when WEB_MAX_STREAMS are open or the server is stopping. *out is borrowed by the
 * owner until it calls web_stream_close (exactly once). */
int web_stream_open(struct web_req *req, struct web_resp *resp, struct web_task **out, struct kb_error *err);
void web_stream_close(struct web_task *t);

/* ---- handlers (api_*.c) ------------------------------------------------------------------------------ */

int web_h_static(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_index(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_widget_js(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_health(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_metrics(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_preflight(struct web_req *req, struct web_resp *resp, struct kb_error *err);

int web_h_docs_upload(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_docs_list(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_doc_get(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_doc_delete(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_doc_file(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_doc_reingest(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_job_get(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_jobs_list(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_colls_list(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_coll_create(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_coll_rename(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_coll_delete(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_coll_handoff(struct web_req *req, struct web_resp *resp, struct kb_error *err);

int web_h_search(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_ask(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_settings_get(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_settings_set(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_models(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_widget_config(struct web_req *req, struct web_resp *resp, struct kb_error *err);

int web_h_bots_list(struct web_req *req, struct web_resp *resp, struct kb_error *err); /* api_bots.c */
int web_h_bot_create(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_bot_get(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_bot_update(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_bot_delete(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_bot_page(struct web_req *req, struct web_resp *resp, struct kb_error *err);
/* Reads bot id into *out (strings in req->arena) and refuses (KB_EFORBIDDEN) a browser Origin that
 * is neither kbox's own nor in the bot's origins (server.cors_origins when it has none). KB_ENOENT. */
/* True unless who is an API key whose only answering scopes are "bot:ID" ones and bot_id (NULL or ""
 * for none) is not among them: a bot key answers as its bots only (routes.c). */
bool web_key_may_use_bot(const struct web_principal *who, const char *bot_id);
int web_bot_admit(struct web_req *req, const char *id, struct rag_bot *out, struct kb_error *err);
/* For requests that name no bot: a cross-origin browser must be in server.cors_origins (admission
 * also passes origins only a bot lists). KB_EFORBIDDEN. */
int web_origin_global(struct web_req *req, struct kb_error *err);
/* GET /api/widget?bot=ID: the bot's widget settings (web_h_widget_config calls it). */
int web_bot_widget_config(struct web_req *req, struct web_resp *resp, const char *id, struct kb_error *err);
int web_h_faq_list(struct web_req *req, struct web_resp *resp, struct kb_error *err); /* api_faq.c */
int web_h_faq_create(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_faq_get(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_faq_update(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_faq_delete(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_faq_versions(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_faq_similar(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_faq_import(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_faq_export(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_feedback(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_review_list(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_review_set(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_stats(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_logs_export(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_conversation_delete(struct web_req *req, struct web_resp *resp, struct kb_error *err);

/* session.c: who is asking, logins and sessions */
/* Fills req->who from the Authorization header (Bearer: the break-glass token, an API key
 * "kbx_...", or a session id) or the kbox_session cookie. 0 with role PUBLIC when nothing was
 * presented; KB_EAUTH (unknown token), KB_ESESSION, KB_EKEYREVOKED or KB_EKEYEXPIRED otherwise. */
int web_auth_identify(struct web_req *req, const char *authorization, const struct config *cfg, struct kb_error *err);
/* True when the principal may see collection id (> 0); 0 (all) only for unrestricted ones. */
bool web_coll_visible(const struct web_req *req, int64_t collection_id);
/* True when the principal may see every collection of bot b (a bot over all collections: only an
 * unrestricted principal). */
bool web_bot_visible(const struct web_req *req, const struct rag_bot *b);
/* 0 when the principal may see document doc_id (or is unrestricted: no lookup); KB_ENOENT, as for a
 * document that does not exist, when it is in a collection the principal may not see. */
int web_doc_visible(struct web_req *req, int64_t doc_id, struct kb_error *err);
/* For a restricted principal: *coll (0: none named) must be visible (else KB_ENOENT); none named
 * becomes its one collection, or KB_EINVAL when it has several. Unrestricted: unchanged, 0. */
int web_coll_pick(struct web_req *req, int64_t *coll, struct kb_error *err);
/* Appends an audit entry naming req->who and the client address; failures are logged, not returned. */
void web_audit(struct web_req *req, const char *action, const char *target, const char *detail);
void web_session_init(struct web_ctx *ctx);
void web_session_release(struct web_ctx *ctx);
/* Makes the setup token when no owner exists (start-up). */
int web_setup_prepare(struct web_ctx *ctx, struct kb_error *err);
int web_h_login(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_logout(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_logout_all(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_me(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_setup(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_password(struct web_req *req, struct web_resp *resp, struct kb_error *err);
/* api_users.c, api_keys.c, api_audit.c */
int web_h_users_list(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_user_create(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_user_update(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_user_delete(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_keys_list(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_key_create(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_key_revoke(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_audit_list(struct web_req *req, struct web_resp *resp, struct kb_error *err);

/* api_handoff.c: human handoff (customer side, the staff Inbox, live streams, presence) */
void web_hub_init(struct web_ctx *ctx);
void web_hub_release(struct web_ctx *ctx); /* after every task ended */
void web_hub_wake(struct web_ctx *ctx);    /* the server stops: close the streams now, not within 1 s */
/* The handoff an answer suggests to the widget: "keyword", "fallbacks" or NULL (handoff.*, with the
 * settings of the question's collection_id (0: bot_id's collections) and bot_id's own over them;
 * bot_id NULL or "" for none). */
const char *web_handoff_offer(struct web_ctx *ctx, const char *bot_id, int64_t collection_id, const char *question,
                              const struct rag_answer *a);
/* True when a thumbs-down vote on message_id should offer a person (handoff.on_thumbs_down, the
 * message's collection's or bot_id's own). */
bool web_handoff_thumbs_down_offer(struct web_ctx *ctx, const char *bot_id, int64_t message_id, int vote);
/* KB_ECONFLICT when an agent holds the handoff of this logged conversation: the bot stays silent. */
int web_handoff_silent(struct web_ctx *ctx, const char *conversation_secret, struct kb_error *err);
int web_h_handoff_status(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_handoff_request(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_handoff_ticket(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_handoff_conversation(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_handoff_message(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_handoff_close(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_handoff_rate(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_handoff_stream(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_inbox_list(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_inbox_stream(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_inbox_get(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_inbox_conv_stream(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_inbox_take(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_inbox_message(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_inbox_close(struct web_req *req, struct web_resp *resp, struct kb_error *err);

int web_h_oa_chat(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_oa_models(struct web_req *req, struct web_resp *resp, struct kb_error *err);
int web_h_oa_embeddings(struct web_req *req, struct web_resp *resp, struct kb_error *err);

#endif
