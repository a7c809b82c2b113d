/* web/server.c: the only libmicrohttpd user. It owns the daemon (internal epoll threads, a pool
 * sized to the cores), the life of each request, body reading, uploads, responses, deferred tasks,
 * the access log and graceful shutdown.
 *
 * One request: the first access-handler call matches the route (404/405), admits it (auth, rate
 * limit, origin) and checks Content-Length against the route's cap (413), all before reading a
 * body byte; an early error response makes libmicrohttpd close the connection instead of reading
 * the rest. The body then arrives in pieces: JSON routes collect it in a capped kb_buf; the upload
 * route feeds MHD's multipart post processor, which writes each file part straight to a temporary
 * file under <data_dir>/uploads.tmp (never the whole upload in memory). Then the handler runs and
 * its struct web_resp becomes the response. The completion callback writes one access-log line
 * (method, path, status, bytes, ms; never headers, so never tokens), feeds the metrics, removes
 * temporary files rag did not take, and frees the request arena.
 *
 * Deferred tasks (answers): the handler starts a thread and the connection is suspended until the
 * task produces its first bytes or finishes. Streamed output (SSE) goes through a content-reader
 * callback that suspends the connection whenever it has nothing to send; the task resumes it on
 * each emit. Lock rule: a task's mutex is held around every suspend/resume of its connection, so a
 * resume can never precede its suspend. A task ends when its function returns; a client that goes
 * away marks the task "gone" and the next emit tells the function to cancel. Threadless streams
 * (web_stream_open; the handoff SSE routes) are tasks without a thread: their owner emits from a
 * thread of its own and ends them with web_stream_close, so 500 waiting streams cost 500 suspended
 * connections, not 500 threads.
 *
 * Hardening (issue #22): before routing, a request whose length two parsers could read differently
 * (conflicting Content-Length headers, Content-Length with Transfer-Encoding; RFC 9112 section
 * 6.3), a path holding a decoded NUL (on_unescape turns %00 into DEL so it cannot cut the path
 * short) or a Host that is not ours (web_host_allowed: server.allowed_hosts, the loopback names and
 * the bind address; for a wildcard bind the machine's addresses and host name) is refused (400 or
 * 421), and every early error closes the connection. Connections: MHD caps them per client address
 * (server.max_conns_per_ip) and in all (WEB_CONN_LIMIT); on_accept keeps the last WEB_CONN_RESERVE
 * for loopback clients, so the health probe and a local admin get in while other addresses hold
 * the rest; a watchdog thread shuts down any connection that has been receiving one request
 * (headers and body, or waiting for the next) for longer than server.request_timeout_s, since
 * MHD's timeout counts idle time only and trickled bytes would reset it. umask(077) at start.
 * Behind a reverse proxy named in server.trust_proxy the client is the right-most X-Forwarded-For
 * entry that is not itself a trusted proxy (client_ip); rate limits, logs and the per-IP keys use it.
 *
 * Cost (admit_cost): /metrics needs the admin token unless server.public_metrics; embeddings (computed
 * in the HTTP thread) hold one of server.max_expensive slots (default: HTTP threads - 1), 503 beyond.
 *
 * HTTPS (server.tls_cert + server.tls_key): MHD_USE_TLS with MHD_OPTION_HTTPS_CERT_CALLBACK, the
 * certificate coming from web/tls.c so that web_server_reload_tls (serve's SIGHUP) swaps it for the
 * next handshakes without restarting the listener; every response then carries
 * Strict-Transport-Security. Tests: tests/web/test_tls.c.
 *
 * Shutdown: stop accepting (quiesce), wake the owner of the threadless streams so it closes them
 * (web_hub_wake), wait up to WEB_DRAIN_S for in-flight requests, cancel running tasks, wait for
 * their threads and for the streams, then stop the daemon (which must not hold suspended
 * connections). Tests: tests/web/test_web.c, tests/web/test_harden.c, tests/web/test_handoff.c. */
#include "web/web_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WEB_DRAIN_S 10.0           /* seconds in-flight requests get at shutdown */
#define WEB_ARENA_BYTES (64u << 20) /* per-request arena cap */
#define WEB_STREAM_MAX (64u << 20) /* SSE bytes buffered for a slow client before the task cancels */
#define WEB_PP_BUFFER 65536        /* post processor buffer */
#define WEB_DRAIN_BYTES (8u << 20) /* body bytes read and dropped after an error found mid-body, so the
                                      client sees the error instead of a reset connection */

struct web_server {
    struct web_ctx ctx;
    struct MHD_Daemon *d;
    MHD_socket quiesced_fd;        /* listen socket handed back by MHD_quiesce_daemon */
    int port;
    bool access_log;
    pthread_mutex_t lock;          /* guards everything below */
    pthread_cond_t cond;           /* signalled when n_inflight or n_tasks drops */
    int64_t n_inflight;            /* requests between first call and completion */
    int n_tasks;                   /* task threads running */
    int n_streams;                 /* threadless streams open (web_stream_open) */
    struct web_task *tasks;        /* running tasks, for cancellation at shutdown */
    bool stopping;
    struct conn_watch *watches;    /* open connections (NOTIFY_CONNECTION), for the receive deadline */
    int n_conns;                   /* length of watches */
    double request_timeout_s;      /* server.request_timeout_s */
    pthread_t watchdog;
    bool watchdog_started;
    bool watchdog_stop;
    struct web_tls *tls;           /* HTTPS credentials (web/tls.c); NULL for plain HTTP */
    int n_expensive;               /* expensive requests running (guarded by lock) */
    int max_expensive;             /* server.max_expensive, resolved at start */
};

/* One open connection. Receiving (headers and body of a request, or waiting for the next one) is
 * bounded by request_timeout_s in total, whatever the idle timeout says: the watchdog shuts down
 * the socket of one that is over, so trickled bytes cannot hold it. While the handler runs and
 * the response goes out (busy) there is no deadline. */
struct conn_watch {
    MHD_socket fd;
    double t0;                     /* when receiving began */
    bool busy;
    struct conn_watch *prev, *next;
};

struct web_task {
    struct web_server *s;
    struct MHD_Connection *mc;
    pthread_mutex_t lock;          /* guards the fields below and suspend/resume of mc */
    int refs;                      /* task thread + request + response (while each exists) */
    web_task_fn fn;
    void *ud;
    void (*free_ud)(void *);
    struct kb_buf out;             /* stream bytes not yet handed to MHD */
    size_t out_pos;                /* bytes of out already sent */
    bool streaming;                /* web_task_emit was called */
    bool finished;                 /* fn returned */
    bool gone;                     /* the client side is done: no one reads any more */
    bool cancel;                   /* server stopping */
    bool suspended;                /* mc is suspended waiting for this task */
    bool threadless;               /* a stream an owner drives (web_stream_open), not a thread */
    int final_status;
    const char *final_ctype;
    struct kb_buf final_body;
    int64_t bytes_sent;
    struct web_task *next;         /* in s->tasks */
};

struct conn_state {
    struct web_server *s;
    struct MHD_Connection *mc;
    struct web_req req;
    struct web_resp resp;
    int route_idx;                 /* -1 when unmatched */
    double t0;
    int status;                    /* status sent */
    int64_t bytes;                 /* body bytes sent (streams: counted by the task) */
    bool responded;                /* a response was queued */
    struct kb_buf body;            /* JSON body */
    int64_t cap;                   /* body cap in bytes */
    int64_t received;              /* body bytes received */
    struct MHD_PostProcessor *pp;
    int up_fd;                     /* current upload file, -1 when none */
    char coll_field[256];          /* "collection" form field */
    int fail_code;                 /* error found while reading the body */
    struct kb_error fail_err;
    struct web_task *task;
    bool expensive;                /* holds one of s->max_expensive slots until completion */
    char method[16];
    char path[512];                /* for the log, truncated */
};

static void task_unref(struct web_task *t);

/* ---- helpers ------------------------------------------------------------------------------------------ */

const char *web_req_query(struct web_req *req, const char *key)
{
    struct conn_state *cs = req->conn;
    return MHD_lookup_connection_value(cs->mc, MHD_GET_ARGUMENT_KIND, key);
}

const char *web_req_header(struct web_req *req, const char *name)
{
    struct conn_state *cs = req->conn;
    return MHD_lookup_connection_value(cs->mc, MHD_HEADER_KIND, name);
}

/* True when ip (as inet_ntop writes it) is one of the comma-separated addresses in list. */
static bool ip_listed(const char *list, const char *ip)
{
    size_t n = strlen(ip);
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, ",");
        const char *b = p;
        size_t m = k;
        while (m && (*b == ' ' || *b == '\t'))
            b++, m--;
        while (m && (b[m - 1] == ' ' || b[m - 1] == '\t'))
            m--;
        if (m == n && !strncasecmp(b, ip, n))
            return true;
        p += k + (p[k] == ',');
    }
    return false;
}

/* The client's address: the peer's, or, when the peer is a proxy named in server.trust_proxy, the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy (entries left of it could
 * be written by the client, so they are never believed). An entry that is not an IP address is
 * ignored and the peer stays the client. */
static void client_ip(const struct web_ctx *ctx, struct MHD_Connection *mc, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const char *xff;
    kb_strlcpy(out, "?", n);
    if (!ci || !ci->client_addr)
        return;
    if (ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr, out, (socklen_t)n);
    else if (ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)ci->client_addr)->sin6_addr, out,
                  (socklen_t)n);
    if (!ctx->trust_proxy[0] || !ip_listed(ctx->trust_proxy, out))
        return;
    xff = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Forwarded-For");
    for (size_t end = xff ? strlen(xff) : 0; end > 0;) {
        size_t start = end, b, e = end;
        char hop[INET6_ADDRSTRLEN + 1];
        unsigned char bin[sizeof(struct in6_addr)];
        while (start > 0 && xff[start - 1] != ',')
            start--;
        for (b = start; b < e && (xff[b] == ' ' || xff[b] == '\t');)
            b++;
        while (e > b && (xff[e - 1] == ' ' || xff[e - 1] == '\t'))
            e--;
        if (e - b >= sizeof hop)
            return; /* too long for an address: keep what we have */
        snprintf(hop, sizeof hop, "%.*s", (int)(e - b), xff + b);
        end = start ? start - 1 : 0;
        if (inet_pton(AF_INET, hop, bin) != 1 && inet_pton(AF_INET6, hop, bin) != 1)
            return; /* not an address: keep the peer */
        kb_strlcpy(out, hop, n);
        if (!ip_listed(ctx->trust_proxy, hop))
            return;
    }
}

static void add_headers(struct MHD_Response *r, const struct conn_state *cs, const char *ctype)
{
    const struct web_resp *resp = &cs->resp;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype ? ctype : "application/json");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (cs->s->tls) /* browsers that saw HTTPS once keep using it for a year */
        MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
    for (int i = 0; i < resp->n_headers; i++)
        MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
}

static enum MHD_Result queue_buffer(struct conn_state *cs, int status, const char *ctype, struct kb_buf *body)
{
    size_t n = body->len;
    char *data = kb_buf_take(body);
    struct MHD_Response *r = MHD_create_response_from_buffer(n, data, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ok;
    if (!r) {
        free(data);
        return MHD_NO;
    }
    add_headers(r, cs, ctype);
    ok = MHD_queue_response(cs->mc, (unsigned)status, r);
    MHD_destroy_response(r);
    cs->status = status;
    cs->bytes = (int64_t)n;
    cs->responded = true;
    return ok;
}

static enum MHD_Result queue_error(struct conn_state *cs, int code, const struct kb_error *err)
{
    struct kb_buf b;
    kb_buf_init(&b, 0);
    web_error_body(&b, code, err);
    if (code == KB_EAUTH)
        web_resp_header(&cs->req, &cs->resp, "WWW-Authenticate", "Bearer");
    return queue_buffer(cs, kb_err_http_status(code), "application/json", &b);
}

static enum MHD_Result queue_resp(struct conn_state *cs)
{
    struct web_resp *resp = &cs->resp;
    if (resp->fd >= 0) {
        struct MHD_Response *r = MHD_create_response_from_fd64((uint64_t)resp->fd_bytes, resp->fd);
        enum MHD_Result ok;
        if (!r) {
            close(resp->fd);
            resp->fd = -1;
            return MHD_NO;
        }
        resp->fd = -1; /* the response owns it now */
        add_headers(r, cs, resp->content_type);
        ok = MHD_queue_response(cs->mc, (unsigned)resp->status, r);
        MHD_destroy_response(r);
        cs->status = resp->status;
        cs->bytes = resp->fd_bytes;
        cs->responded = true;
        return ok;
    }
    return queue_buffer(cs, resp->status, resp->content_type, &resp->body);
}

/* ---- deferred tasks ------------------------------------------------------------------------------------- */

struct web_ctx *web_task_ctx(struct web_task *t)
{
    return &t->s->ctx;
}

static void task_resume_locked(struct web_task *t)
{
    if (t->suspended) {
        t->suspended = false;
        MHD_resume_connection(t->mc);
    }
}

int web_task_emit(struct web_task *t, const char *p, size_t n)
{
    int stop;
    pthread_mutex_lock(&t->lock);
    t->streaming = true;
    if (t->out_pos == t->out.len) {
        kb_buf_reset(&t->out);
        t->out_pos = 0;
    }
    if (!t->gone && kb_buf_append(&t->out, p, n) != 0)
        t->gone = true; /* a client this slow is not reading: give up on it */
    task_resume_locked(t);
    stop = t->gone || t->cancel;
    pthread_mutex_unlock(&t->lock);
    return stop;
}

bool web_task_stopping(struct web_task *t)
{
    bool stop;
    pthread_mutex_lock(&t->s->lock); /* a server that stops ends idle streams at once, not after the drain */
    stop = t->s->stopping;
    pthread_mutex_unlock(&t->s->lock);
    if (stop)
        return true;
    pthread_mutex_lock(&t->lock);
    stop = t->gone || t->cancel;
    pthread_mutex_unlock(&t->lock);
    return stop;
}

void web_task_finish(struct web_task *t, int status, const char *content_type, struct kb_buf *body)
{
    pthread_mutex_lock(&t->lock);
    t->final_status = status;
    t->final_ctype = content_type;
    kb_buf_release(&t->final_body);
    t->final_body = *body;
    kb_buf_init(body, 0);
    pthread_mutex_unlock(&t->lock);
}

/* The end of a task (its function returned) or of a threadless stream (its owner closed it): the
 * response ends once the buffered bytes are out, and the owner's reference goes. */
static void task_end(struct web_task *t)
{
    struct web_server *s = t->s;
    pthread_mutex_lock(&t->lock);
    t->finished = true;
    task_resume_locked(t);
    pthread_mutex_unlock(&t->lock);

    pthread_mutex_lock(&s->lock);
    for (struct web_task **pp = &s->tasks; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    if (t->threadless)
        s->n_streams--;
    else
        s->n_tasks--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    task_unref(t);
}

static void *task_main(void *arg)
{
    struct web_task *t = arg;
    t->fn(t, t->ud);
    if (t->free_ud)
        t->free_ud(t->ud);
    t->ud = NULL;
    task_end(t);
    return NULL;
}

void web_stream_close(struct web_task *t)
{
    if (t)
        task_end(t);
}

int web_stream_open(struct web_req *req, struct web_resp *resp, struct web_task **out, struct kb_error *err)
{
    struct conn_state *cs = req->conn;
    struct web_server *s = cs->s;
    struct web_task *t;
    int rc = 0;
    *out = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->n_streams >= WEB_MAX_STREAMS || s->stopping)
        rc = kb_error_set(err, KB_EBUSY, "%d streams are open; try again shortly", s->n_streams);
    else
        s->n_streams++;
    pthread_mutex_unlock(&s->lock);
    if (rc)
        return rc;
    t = kb_xcalloc(1, sizeof *t);
    t->s = s;
    t->mc = cs->mc;
    t->threadless = true;
    pthread_mutex_init(&t->lock, NULL);
    t->refs = 2; /* the owner and the request */
    kb_buf_init(&t->out, WEB_STREAM_MAX);
    kb_buf_init(&t->final_body, 0);
    t->final_status = 500;
    pthread_mutex_lock(&s->lock);
    t->next = s->tasks;
    s->tasks = t;
    pthread_mutex_unlock(&s->lock);
    resp->task = t;
    cs->task = t;
    *out = t;
    return 0;
}

static void task_unref(struct web_task *t)
{
    int left;
    pthread_mutex_lock(&t->lock);
    left = --t->refs;
    pthread_mutex_unlock(&t->lock);
    if (left > 0)
        return;
    kb_buf_release(&t->out);
    kb_buf_release(&t->final_body);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int web_task_start(struct web_req *req, struct web_resp *resp, web_task_fn fn, void *ud,
                   void (*free_ud)(void *), struct kb_error *err)
{
    struct conn_state *cs = req->conn;
    struct web_server *s = cs->s;
    struct web_task *t;
    pthread_t th;
    pthread_attr_t attr;
    int rc = 0;

    pthread_mutex_lock(&s->lock);
    if (s->n_tasks >= WEB_MAX_TASKS || s->stopping)
        rc = kb_error_set(err, KB_EBUSY, "%d answers are running; try again shortly", s->n_tasks);
    else
        s->n_tasks++;
    pthread_mutex_unlock(&s->lock);
    if (rc) {
        if (free_ud)
            free_ud(ud);
        return rc;
    }
    t = kb_xcalloc(1, sizeof *t);
    t->s = s;
    t->mc = cs->mc;
    pthread_mutex_init(&t->lock, NULL);
    t->refs = 2; /* the thread and the request */
    t->fn = fn;
    t->ud = ud;
    t->free_ud = free_ud;
    kb_buf_init(&t->out, WEB_STREAM_MAX);
    kb_buf_init(&t->final_body, 0);
    t->final_status = 500;
    pthread_mutex_lock(&s->lock);
    t->next = s->tasks;
    s->tasks = t;
    pthread_mutex_unlock(&s->lock);

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, task_main, t) != 0) {
        pthread_mutex_lock(&s->lock);
        for (struct web_task **pp = &s->tasks; *pp; pp = &(*pp)->next)
            if (*pp == t) {
                *pp = t->next;
                break;
            }
        s->n_tasks--;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        if (free_ud)
            free_ud(ud);
        t->refs = 1;
        task_unref(t);
        rc = kb_error_set(err, KB_EBUSY, "cannot start an answer thread");
    } else {
        resp->task = t;
        cs->task = t;
    }
    pthread_attr_destroy(&attr);
    return rc;
}

static ssize_t task_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct web_task *t = cls;
    ssize_t n;
    (void)pos;
    pthread_mutex_lock(&t->lock);
    if (t->out_pos < t->out.len) {
        size_t k = KB_MIN(max, t->out.len - t->out_pos);
        memcpy(buf, t->out.data + t->out_pos, k);
        t->out_pos += k;
        t->bytes_sent += (int64_t)k;
        n = (ssize_t)k;
    } else if (t->finished || t->gone) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        t->suspended = true;
        MHD_suspend_connection(t->mc);
        n = 0;
    }
    pthread_mutex_unlock(&t->lock);
    return n;
}

static void task_response_free(void *cls)
{
    struct web_task *t = cls;
    pthread_mutex_lock(&t->lock);
    t->gone = true;
    pthread_mutex_unlock(&t->lock);
    task_unref(t);
}

/* Called on the first access-handler call after the handler started a task, and on every call
 * after a resume: responds when the task has output, else suspends the connection again. */
static enum MHD_Result task_respond(struct conn_state *cs)
{
    struct web_task *t = cs->task;
    enum MHD_Result ok = MHD_YES;
    pthread_mutex_lock(&t->lock);
    if (t->streaming) {
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, task_read, t, task_response_free);
        if (!r) {
            pthread_mutex_unlock(&t->lock);
            return MHD_NO;
        }
        t->refs++; /* the response's */
        pthread_mutex_unlock(&t->lock);
        add_headers(r, cs, "text/event-stream; charset=utf-8");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        MHD_add_response_header(r, "X-Accel-Buffering", "no");
        ok = MHD_queue_response(cs->mc, 200, r);
        MHD_destroy_response(r);
        cs->status = 200;
        cs->responded = true;
        return ok;
    }
    if (t->finished) {
        struct kb_buf body = t->final_body;
        int status = t->final_status;
        const char *ctype = t->final_ctype;
        kb_buf_init(&t->final_body, 0);
        pthread_mutex_unlock(&t->lock);
        ok = queue_buffer(cs, status, ctype, &body);
        kb_buf_release(&body);
        return ok;
    }
    t->suspended = true;
    MHD_suspend_connection(cs->mc);
    pthread_mutex_unlock(&t->lock);
    return MHD_YES;
}

/* ---- uploads ---------------------------------------------------------------------------------------------- */

static void upload_name(const char *filename, char *out, size_t n)
{
    const char *base = filename;
    size_t k = 0;
    for (const char *p = filename; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    for (const char *p = base; *p && k + 1 < n; p++)
        if ((unsigned char)*p >= 0x20 && *p != 0x7f)
            out[k++] = *p;
    out[k] = '\0';
    if (k == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        kb_strlcpy(out, "upload", n);
}

static int upload_open(struct conn_state *cs, const char *filename)
{
    struct web_req *req = &cs->req;
    struct web_upload *u;
    char name[256], path[4200];
    if (req->n_uploads >= WEB_MAX_UPLOADS)
        return kb_error_set(&cs->fail_err, KB_ETOOBIG, "at most %d files per upload", WEB_MAX_UPLOADS);
    snprintf(path, sizeof path, "%s/up-XXXXXX", cs->s->ctx.tmp_dir);
    cs->up_fd = mkstemp(path);
    if (cs->up_fd >= 0)
        fcntl(cs->up_fd, F_SETFD, FD_CLOEXEC);
    if (cs->up_fd < 0)
        return kb_error_set(&cs->fail_err, KB_EIO, "cannot create an upload file in '%s': %s", cs->s->ctx.tmp_dir,
                            strerror(errno));
    upload_name(filename, name, sizeof name);
    u = &req->uploads[req->n_uploads++];
    u->name = kb_arena_strdup(&req->arena, name);
    u->tmp_path = kb_arena_strdup(&req->arena, path);
    u->bytes = 0;
    if (!u->name || !u->tmp_path) {
        close(cs->up_fd);
        cs->up_fd = -1;
        unlink(path);
        req->n_uploads--;
        return kb_error_set(&cs->fail_err, KB_ETOOBIG, "upload names too long");
    }
    return 0;
}

static int upload_write(struct conn_state *cs, const char *data, size_t size)
{
    struct web_upload *u = &cs->req.uploads[cs->req.n_uploads - 1];
    while (size) {
        ssize_t k = write(cs->up_fd, data, size);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return kb_error_set(&cs->fail_err, errno == ENOSPC ? KB_ENOSPC : KB_EIO, "cannot store '%s': %s",
                                u->name, strerror(errno));
        data += k;
        size -= (size_t)k;
        u->bytes += k;
    }
    return 0;
}

static enum MHD_Result on_post_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                    const char *content_type, const char *transfer_encoding, const char *data,
                                    uint64_t off, size_t size)
{
    struct conn_state *cs = cls;
    int rc = 0;
    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    if (cs->fail_code)
        return MHD_NO;
    if (!filename) {
        /* plain form fields: only "collection" means something */
        if (key && strcmp(key, "collection") == 0 && off + size < sizeof cs->coll_field) {
            memcpy(cs->coll_field + off, data, size);
            cs->coll_field[off + size] = '\0';
        }
        return MHD_YES;
    }
    if (off == 0) {
        struct web_upload *cur = cs->req.n_uploads ? &cs->req.uploads[cs->req.n_uploads - 1] : NULL;
        bool reuse = cur && cs->up_fd >= 0 && cur->bytes == 0; /* MHD may announce a part twice at 0 */
        if (!reuse) {
            if (cs->up_fd >= 0) {
                close(cs->up_fd);
                cs->up_fd = -1;
            }
            rc = upload_open(cs, filename);
        }
    }
    if (!rc && cs->up_fd < 0)
        rc = kb_error_set(&cs->fail_err, KB_EINVAL, "malformed multipart body");
    if (!rc && size)
        rc = upload_write(cs, data, size);
    if (rc) {
        cs->fail_code = rc;
        return MHD_NO;
    }
    return MHD_YES;
}

/* ---- connection accounting: the receive deadline and the localhost reserve ---------------------------------- */

static struct conn_watch *watch_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* busy: the request is read and being answered; otherwise receiving starts now. */
static void watch_mark(struct web_server *s, struct MHD_Connection *mc, bool busy)
{
    struct conn_watch *w = watch_of(mc);
    if (!w)
        return;
    pthread_mutex_lock(&s->lock);
    w->busy = busy;
    w->t0 = kb_now_s();
    pthread_mutex_unlock(&s->lock);
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct web_server *s = cls;
    struct conn_watch *w = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        w = kb_xcalloc(1, sizeof *w);
        w->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
        w->t0 = kb_now_s();
        pthread_mutex_lock(&s->lock);
        w->next = s->watches;
        if (s->watches)
            s->watches->prev = w;
        s->watches = w;
        s->n_conns++;
        pthread_mutex_unlock(&s->lock);
        *socket_context = w;
    } else if (w) {
        /* MHD reports the close before it closes the socket, so the watchdog never touches a reused fd */
        pthread_mutex_lock(&s->lock);
        if (w->prev)
            w->prev->next = w->next;
        else
            s->watches = w->next;
        if (w->next)
            w->next->prev = w->prev;
        s->n_conns--;
        pthread_mutex_unlock(&s->lock);
        free(w);
        *socket_context = NULL;
    }
}

bool web_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) { /* ::1, or an IPv4 127.x on a dual-stack (::) listener */
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

bool web_conn_admit(int n_open, const struct sockaddr *addr)
{
    return n_open < WEB_CONN_LIMIT - WEB_CONN_RESERVE || (addr && web_is_loopback(addr));
}

/* MHD_OPTION_ACCEPT_POLICY: the last WEB_CONN_RESERVE connections of WEB_CONN_LIMIT are for
 * loopback clients (the health probe, the admin on the machine), so a crowd of other addresses,
 * each under server.max_conns_per_ip, cannot lock them out. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct web_server *s = cls;
    bool ok;
    (void)addrlen;
    pthread_mutex_lock(&s->lock);
    ok = web_conn_admit(s->n_conns, addr);
    pthread_mutex_unlock(&s->lock);
    return ok ? MHD_YES : MHD_NO;
}

static void *watchdog_main(void *arg)
{
    struct web_server *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->watchdog_stop) {
        struct timespec ts;
        double now = kb_now_s();
        for (struct conn_watch *w = s->watches; w; w = w->next)
            if (!w->busy && w->fd != MHD_INVALID_SOCKET && now - w->t0 > s->request_timeout_s) {
                shutdown(w->fd, SHUT_RDWR); /* MHD sees the end of the stream and cleans up */
                w->busy = true;             /* once */
            }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- the access handler ------------------------------------------------------------------------------------- */

static struct conn_state *conn_new(struct web_server *s, struct MHD_Connection *mc, const char *url,
                                   const char *method)
{
    struct conn_state *cs = kb_xcalloc(1, sizeof *cs);
    cs->s = s;
    cs->mc = mc;
    cs->t0 = kb_now_s();
    cs->route_idx = -1;
    cs->up_fd = -1;
    cs->status = 500;
    kb_strlcpy(cs->method, method, sizeof cs->method);
    kb_strlcpy(cs->path, url, sizeof cs->path);
    kb_arena_init(&cs->req.arena, 16384, WEB_ARENA_BYTES);
    cs->req.ctx = &s->ctx;
    cs->req.conn = cs;
    cs->req.method = cs->method;
    client_ip(&s->ctx, mc, cs->req.client_ip, sizeof cs->req.client_ip);
    kb_buf_init(&cs->resp.body, 0);
    cs->resp.fd = -1;
    cs->resp.status = 200;
    cs->resp.content_type = "application/json";
    pthread_mutex_lock(&s->lock);
    s->n_inflight++;
    pthread_mutex_unlock(&s->lock);
    return cs;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* MHD_OPTION_UNESCAPE_CALLBACK: %XX decoding of the path and query arguments, as MHD's own, except
 * that a decoded NUL becomes DEL (0x7f). MHD's decoder would leave a NUL that silently cuts the
 * string ("/api/documents/1%00x" would serve document 1); DEL is refused in paths below. */
static size_t on_unescape(void *cls, struct MHD_Connection *mc, char *s)
{
    char *w = s;
    (void)cls;
    (void)mc;
    for (const char *r = s; *r; w++) {
        int hi = r[0] == '%' && r[1] ? hex_val(r[1]) : -1, lo = hi >= 0 && r[2] ? hex_val(r[2]) : -1;
        if (hi >= 0 && lo >= 0) {
            *w = (char)(hi * 16 + lo);
            if (*w == '\0')
                *w = 0x7f;
            r += 3;
        } else {
            *w = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static bool has_control_byte(const char *url)
{
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

static bool has_bad_path(const char *url)
{
    /* MHD has decoded %XX already (NUL as DEL, see on_unescape); refuse dot segments and
     * backslashes outright so no handler ever sees them. */
    return strstr(url, "/../") || kb_str_has_suffix(url, "/..") || strstr(url, "/./") || strchr(url, '\\') ||
           url[0] != '/';
}

struct header_count {
    int n_clen;         /* Content-Length headers */
    bool clen_differ;   /* two of them disagree */
    const char *clen;   /* the first one */
    int n_te;           /* Transfer-Encoding headers */
};

static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct header_count *hc = cls;
    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (hc->n_clen++ == 0)
            hc->clen = value;
        else if (strcmp(hc->clen, value ? value : "") != 0)
            hc->clen_differ = true;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        hc->n_te++;
    }
    return MHD_YES;
}

/* Request smuggling (RFC 9112 section 6.3): a message whose length two parsers could read
 * differently is refused, and the connection closed, before any body byte is read. */
static int check_framing(struct conn_state *cs, struct kb_error *err)
{
    struct header_count hc = {0};
    MHD_get_connection_values(cs->mc, MHD_HEADER_KIND, on_header, &hc);
    if (hc.clen_differ)
        return kb_error_set(err, KB_EINVAL, "conflicting Content-Length headers");
    if (hc.n_clen && hc.n_te)
        return kb_error_set(err, KB_EINVAL, "Content-Length together with Transfer-Encoding");
    if (hc.n_te > 1)
        return kb_error_set(err, KB_EINVAL, "more than one Transfer-Encoding header");
    return 0;
}

/* First call: route, admission and caps, before any body byte. Returns 0 or a KB_E* code. */
/* Cost admission (issue #22 item 4), after auth: /metrics is the admin's unless server.public_metrics;
 * the expensive routes that compute inside an HTTP worker thread (WEB_EXPENSIVE_ROUTES: embeddings),
 * when their body is over WEB_EXPENSIVE_MIN_BYTES (or of unknown length), take one of s->max_expensive slots until the request completes, so they cannot occupy every HTTP
 * thread and health, admin and search keep one; over the cap they get 503 at once with Retry-After
 * instead of queueing. Ask and chat run as tasks on threads of their own (web_task_start), bounded by
 * answer.max_concurrent, so they hold no HTTP thread while they work. */
#define WEB_EXPENSIVE_ROUTES " oa_embeddings "
#define WEB_EXPENSIVE_MIN_BYTES (64 * 1024) /* bodies above this take a slot: ~0.05 s of embedding work and up */
static int admit_cost(struct conn_state *cs, struct kb_error *err)
{
    const char *name = cs->req.route->name, *clen;
    int64_t n = 0;
    char key[40];
    int rc = 0;
    if (strcmp(name, "metrics") == 0 && !cs->req.admin) {
        const struct config *cfg = rag_config_get(cs->s->ctx.rag);
        if (!cfg->server_public_metrics)
            rc = kb_error_set(err, KB_EAUTH, "/metrics needs the admin token (or server.public_metrics)");
        rag_config_put(cs->s->ctx.rag, cfg);
        return rc;
    }
    snprintf(key, sizeof key, " %.36s ", name);
    if (!strstr(WEB_EXPENSIVE_ROUTES, key))
        return 0;
    clen = web_req_header(&cs->req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (clen && kb_parse_i64(clen, &n) == 0 && n <= WEB_EXPENSIVE_MIN_BYTES)
        return 0; /* a small call (a remote embedder's batch of chunks) costs milliseconds: no slot */
    pthread_mutex_lock(&cs->s->lock);
    if (cs->s->n_expensive >= cs->s->max_expensive)
        rc = kb_error_set(err, KB_EBUSY, "busy: %d embedding requests run already "
                          "(server.max_expensive); try again shortly", cs->s->n_expensive);
    else
        cs->s->n_expensive++;
    pthread_mutex_unlock(&cs->s->lock);
    cs->expensive = rc == 0;
    if (rc)
        web_resp_header(&cs->req, &cs->resp, "Retry-After", "1");
    return rc;
}

static int conn_begin(struct conn_state *cs, const char *url, struct kb_error *err)
{
    struct web_req *req = &cs->req;
    const struct config *cfg;
    const char *clen, *te, *ctype;
    int rc;
    int64_t n = -1;
    enum web_match m;

    req->path = kb_arena_strdup(&req->arena, url);
    if (!req->path)
        return kb_error_set(err, KB_ETOOBIG, "URL too long");
    if ((rc = check_framing(cs, err)))
        return rc;
    if (!web_host_allowed(&cs->s->ctx, web_req_header(req, "Host")))
        return kb_error_set(err, KB_EHOST, "this server does not answer to Host '%.100s' (server.allowed_hosts)",
                            web_req_header(req, "Host"));
    if (has_control_byte(url))
        return kb_error_set(err, KB_EINVAL, "the path holds a NUL or control character");
    if (has_bad_path(url))
        return kb_error_set(err, KB_ENOENT, "no such path");
    m = web_route_find(cs->method, url, req->ids, &req->n_ids, &cs->route_idx);
    if (m == WEB_MATCH_NO_PATH)
        return kb_error_set(err, KB_ENOENT, "no route for %s %.200s", cs->method, url);
    if (m == WEB_MATCH_NO_METHOD)
        return kb_error_set(err, KB_EMETHOD, "%s is not allowed on %.200s", cs->method, url);
    req->route = web_route_at(cs->route_idx);
    /* CORS headers first, so a browser on an allowed origin can read even the errors below */
    web_cors_headers(req, &cs->resp, web_req_header(req, "Origin"));
    if ((rc = web_route_admit(req, web_req_header(req, "Authorization"), web_req_header(req, "Origin"),
                              web_req_header(req, "Host"), err)) ||
        (rc = admit_cost(cs, err)))
        return rc;

    cfg = rag_config_get(cs->s->ctx.rag);
    cs->cap = web_route_cap(req->route, cfg);
    rag_config_put(cs->s->ctx.rag, cfg);
    clen = web_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    te = web_req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (clen && kb_parse_i64(clen, &n) != 0)
        return kb_error_set(err, KB_EINVAL, "bad Content-Length");
    if (n > cs->cap)
        return kb_error_set(err, KB_ETOOBIG, "request body of %lld bytes is over this route's cap of %lld bytes",
                            (long long)n, (long long)cs->cap);
    if (cs->cap == 0 && te)
        return kb_error_set(err, KB_ETOOBIG, "this route takes no request body");
    if (req->route->max_body_bytes == WEB_BODY_UPLOAD) {
        ctype = web_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!ctype || strncasecmp(ctype, "multipart/form-data", 19) != 0)
            return kb_error_set(err, KB_EFORMAT, "uploads must be multipart/form-data");
        cs->pp = MHD_create_post_processor(cs->mc, WEB_PP_BUFFER, on_post_part, cs);
        if (!cs->pp)
            return kb_error_set(err, KB_EINVAL, "malformed multipart Content-Type (no boundary?)");
    } else {
        kb_buf_init(&cs->body, (size_t)cs->cap);
    }
    return 0;
}

static int conn_body(struct conn_state *cs, const char *data, size_t n)
{
    cs->received += (int64_t)n;
    if (cs->received > cs->cap)
        return kb_error_set(&cs->fail_err, KB_ETOOBIG, "request body is over this route's cap of %lld bytes",
                            (long long)cs->cap);
    if (cs->pp) {
        if (MHD_post_process(cs->pp, data, n) != MHD_YES)
            return cs->fail_code ? cs->fail_code
                                 : kb_error_set(&cs->fail_err, KB_EINVAL, "malformed multipart body");
        return 0;
    }
    if (kb_buf_append(&cs->body, data, n) != 0)
        return kb_error_set(&cs->fail_err, KB_ETOOBIG, "request body is over this route's cap of %lld bytes",
                            (long long)cs->cap);
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct web_server *s = cls;
    struct conn_state *cs = *con_cls;
    struct kb_error err = {0};
    int rc;
    (void)version;

    if (!cs) {
        cs = conn_new(s, mc, url, method);
        *con_cls = cs;
        if ((rc = conn_begin(cs, url, &err))) {
            /* MHD closes the connection instead of reading a body; say so, and close it even when
             * no body was announced, since a refused request's framing is not to be trusted */
            web_resp_header(&cs->req, &cs->resp, "Connection", "close");
            return queue_error(cs, rc, &err);
        }
        return MHD_YES;
    }
    if (cs->responded) {
        *upload_data_size = 0; /* discard anything after an early response */
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (cs->fail_code)
            cs->received += (int64_t)*upload_data_size; /* draining */
        else if ((rc = conn_body(cs, upload_data, *upload_data_size)))
            cs->fail_code = rc;
        *upload_data_size = 0;
        /* Answer at the end of the body (a closed socket with unread data resets the connection
         * and loses the answer), unless the client keeps sending far past the cap. */
        if (cs->fail_code && cs->received > cs->cap + (int64_t)WEB_DRAIN_BYTES)
            return queue_error(cs, cs->fail_code, &cs->fail_err);
        return MHD_YES;
    }
    if (cs->task)
        return task_respond(cs);
    if (cs->fail_code)
        return queue_error(cs, cs->fail_code, &cs->fail_err);

    /* The body is complete: run the handler. */
    watch_mark(s, mc, true);
    if (cs->pp) {
        MHD_destroy_post_processor(cs->pp);
        cs->pp = NULL;
        if (cs->up_fd >= 0) {
            close(cs->up_fd);
            cs->up_fd = -1;
        }
        if (cs->fail_code)
            return queue_error(cs, cs->fail_code, &cs->fail_err);
        if (cs->coll_field[0] && !web_req_query(&cs->req, "collection"))
            MHD_set_connection_value(mc, MHD_GET_ARGUMENT_KIND, "collection",
                                     kb_arena_strdup(&cs->req.arena, cs->coll_field));
    } else if (cs->body.len) {
        cs->req.body = cs->body.data;
        cs->req.body_bytes = cs->body.len;
    }
    rc = cs->req.route->handler(&cs->req, &cs->resp, &err);
    if (rc)
        return queue_error(cs, rc, &err);
    if (cs->resp.task)
        return task_respond(cs);
    return queue_resp(cs);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct web_server *s = cls;
    struct conn_state *cs = *con_cls;
    double ms;
    int64_t bytes;
    if (!cs)
        return;
    *con_cls = NULL;
    watch_mark(s, mc, false); /* keep-alive: the next request's receive time starts */
    if (cs->expensive) {
        pthread_mutex_lock(&s->lock);
        s->n_expensive--;
        pthread_mutex_unlock(&s->lock);
    }
    if (cs->pp)
        MHD_destroy_post_processor(cs->pp);
    if (cs->up_fd >= 0)
        close(cs->up_fd);
    for (int i = 0; i < cs->req.n_uploads; i++)
        if (cs->req.uploads[i].tmp_path && cs->req.uploads[i].tmp_path[0])
            unlink(cs->req.uploads[i].tmp_path);
    bytes = cs->bytes;
    if (cs->task) {
        pthread_mutex_lock(&cs->task->lock);
        cs->task->gone = true;
        bytes = cs->task->bytes_sent ? cs->task->bytes_sent : bytes;
        pthread_mutex_unlock(&cs->task->lock);
        task_unref(cs->task);
    }
    if (!cs->responded || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        cs->status = cs->responded ? cs->status : 499;
    ms = (kb_now_s() - cs->t0) * 1000.0;
    web_metrics_observe(&s->ctx, cs->route_idx, cs->status, ms / 1000.0);
    if (s->access_log)
        kb_info("%s %s %s %d %lld %.1fms%s", cs->req.client_ip, cs->method, cs->path, cs->status, (long long)bytes,
                ms, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
    if (cs->resp.fd >= 0)
        close(cs->resp.fd);
    kb_buf_release(&cs->resp.body);
    kb_buf_release(&cs->body);
    kb_arena_release(&cs->req.arena);
    free(cs);
    pthread_mutex_lock(&s->lock);
    s->n_inflight--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    kb_debug("http: %s", msg);
}

/* ---- start and stop ------------------------------------------------------------------------------------------- */

static int resolve_bind(const char *host, int port, struct sockaddr_storage *ss, bool *ipv6, struct kb_error *err)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char portstr[16];
    int grc;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%d", port);
    grc = getaddrinfo(host, portstr, &hints, &ai);
    if (grc != 0 || !ai)
        return kb_error_set(err, KB_ECONFIG, "cannot resolve server.host '%s': %s", host, gai_strerror(grc));
    memset(ss, 0, sizeof *ss);
    memcpy(ss, ai->ai_addr, KB_MIN((size_t)ai->ai_addrlen, sizeof *ss));
    *ipv6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    return 0;
}

static int make_tmp_dir(struct web_ctx *ctx, const struct config *cfg, struct kb_error *err)
{
    snprintf(ctx->tmp_dir, sizeof ctx->tmp_dir, "%s/uploads.tmp", cfg->data_dir);
    if (mkdir(ctx->tmp_dir, 0700) != 0 && errno != EEXIST)
        return kb_error_set(err, KB_EIO, "cannot create '%s': %s", ctx->tmp_dir, strerror(errno));
    return 0;
}

static void ctx_release(struct web_ctx *ctx)
{
    web_metrics_release(ctx);
    web_hub_release(ctx);
    web_session_release(ctx);
    web_rate_release(&ctx->login_rate);
    web_rate_release(&ctx->rate);
}

static void hosts_add(struct web_ctx *ctx, const char *name, const char *port)
{
    size_t len = strlen(ctx->allowed_hosts);
    bool v6 = strchr(name, ':') && name[0] != '[';
    if (!name[0])
        return;
    snprintf(ctx->allowed_hosts + len, sizeof ctx->allowed_hosts - len, "%s%s%s%s%s%s", len ? "," : "",
             v6 ? "[" : "", name, v6 ? "]" : "", port[0] ? ":" : "", port);
}

static bool is_wildcard(const char *host)
{
    return !host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || strcmp(host, "[::]") == 0;
}

/* The Host values this server answers (DNS rebinding guard): server.allowed_hosts as written, the
 * loopback names on any port and the bind address with our port ("0" = the port listened on, see
 * web_host_allowed), and for a wildcard bind every address of this machine and its host name. */
static void hosts_build(struct web_ctx *ctx, const struct config *cfg, const char *bind_host)
{
    kb_strlcpy(ctx->allowed_hosts, cfg->server_allowed_hosts, sizeof ctx->allowed_hosts);
    /* loopback names on any port: only a page really loaded from this machine makes a browser send
     * them, never a rebound public name */
    hosts_add(ctx, "localhost", "");
    hosts_add(ctx, "127.0.0.1", "");
    hosts_add(ctx, "::1", "");
    if (!is_wildcard(bind_host)) {
        hosts_add(ctx, bind_host, "0");
    } else {
        struct ifaddrs *ifa = NULL;
        char name[256];
        if (gethostname(name, sizeof name) == 0) {
            name[sizeof name - 1] = '\0';
            hosts_add(ctx, name, "0");
        }
        if (getifaddrs(&ifa) == 0) {
            for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
                int fam = i->ifa_addr ? i->ifa_addr->sa_family : AF_UNSPEC;
                if ((fam == AF_INET || fam == AF_INET6) &&
                    getnameinfo(i->ifa_addr, fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6),
                                name, sizeof name, NULL, 0, NI_NUMERICHOST) == 0 &&
                    !strchr(name, '%')) /* link-local scoped addresses cannot be a Host */
                    hosts_add(ctx, name, "0");
            }
            freeifaddrs(ifa);
        }
        if (!cfg->server_allowed_hosts[0])
            kb_warn("server.host is %s: only requests naming this machine's addresses or host name (%.300s) are "
                    "answered, others get 421; set server.allowed_hosts to the public name clients use "
                    "(e.g. kb.example.com)", bind_host[0] ? bind_host : "any address", ctx->allowed_hosts);
    }
}

int web_server_start(struct web_server **out, struct rag *r, const struct web_opts *opts, struct kb_error *err)
{
    /* Start-up values only (server.threads, host, port, timeout_s, admin_token, data.dir): settings
     * may not change them while kbox runs, so one snapshot held through the start is enough. */
    const struct config *cfg = rag_config_get(r);
    struct web_server *s = kb_xcalloc(1, sizeof *s);
    struct sockaddr_storage ss;
    bool ipv6 = false;
    unsigned flags;
    long n_threads = opts && opts->n_threads > 0 ? opts->n_threads : cfg->server_threads;
    const char *host = opts && opts->host ? opts->host : cfg->server_host;
    int port = opts && opts->port >= 0 ? opts->port : (int)cfg->server_port;
    const union MHD_DaemonInfo *di;
    struct MHD_OptionItem pool[3];
    int rc;

    *out = NULL;
    if (n_threads <= 0)
        n_threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    s->ctx.rag = r;
    s->ctx.server = s;
    s->ctx.started_s = kb_now_s();
    s->access_log = opts ? opts->access_log : true;
    s->quiesced_fd = MHD_INVALID_SOCKET;
    web_rate_init(&s->ctx.rate);
    web_rate_init(&s->ctx.login_rate);
    web_session_init(&s->ctx);
    web_metrics_init(&s->ctx);
    web_hub_init(&s->ctx);
    /* everything kbox creates from here on (uploads, originals, index files) is the owner's alone */
    umask(077);
    hosts_build(&s->ctx, cfg, host);
    kb_strlcpy(s->ctx.trust_proxy, cfg->server_trust_proxy, sizeof s->ctx.trust_proxy);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);

    if ((rc = web_token_load(&s->ctx, cfg, err)) || (rc = web_setup_prepare(&s->ctx, err)) ||
        (rc = make_tmp_dir(&s->ctx, cfg, err)) ||
        (rc = resolve_bind(host, port, &ss, &ipv6, err)))
        goto out_free;

    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ipv6)
        flags |= MHD_USE_IPv6;
    /* a pool of 1 is no pool: MHD then runs its one internal thread, and warns if asked for one */
    pool[0] = (struct MHD_OptionItem){n_threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
                                      (intptr_t)n_threads, NULL};
    pool[1] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    pool[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if (cfg->server_tls_cert[0] || cfg->server_tls_key[0]) { /* HTTPS: web/tls.c hands out the certificate */
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
            MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES) {
            rc = kb_error_set(err, KB_ENOTIMPL, "server.tls_cert is set but this libmicrohttpd has no TLS support");
            goto out_free;
        }
        if ((rc = web_tls_open(&s->tls, cfg->server_tls_cert, cfg->server_tls_key, err)))
            goto out_free;
        flags |= MHD_USE_TLS;
        s->ctx.tls = true; /* session cookies get Secure */
        pool[n_threads > 1 ? 1 : 0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0, web_tls_callback()};
    }
    s->d = MHD_start_daemon(flags, 0, on_accept, s, on_request, s,
                            MHD_OPTION_ARRAY, pool,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->server_timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)WEB_CONN_LIMIT,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cfg->server_max_conns_per_ip,
                            MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)511,
                            MHD_OPTION_END);
    if (!s->d) {
        rc = kb_error_set(err, KB_EIO, "cannot listen on %s:%d (address in use, or not permitted)", host, port);
        goto out_free;
    }
    di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : port;
    s->request_timeout_s = (double)cfg->server_request_timeout_s;
    s->max_expensive = cfg->server_max_expensive > 0 ? (int)cfg->server_max_expensive
                                                     : (int)KB_MAX(1, n_threads - 1);
    s->watchdog_started = pthread_create(&s->watchdog, NULL, watchdog_main, s) == 0;
    __atomic_store_n(&s->ctx.hosts_port, s->port, __ATOMIC_RELEASE);
    *out = s;
    rag_config_put(r, cfg);
    return 0;

out_free:
    web_tls_close(s->tls);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    ctx_release(&s->ctx);
    free(s);
    rag_config_put(r, cfg);
    return rc;
}

/* Waits on s->cond until *count is 0 or deadline (monotonic seconds) passes. Caller holds s->lock. */
static void wait_zero(struct web_server *s, const int64_t *count64, const int *count, double deadline)
{
    while ((count64 ? *count64 : *count) > 0 && kb_now_s() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
}

void web_server_stop(struct web_server *s)
{
    if (!s)
        return;
    /* MHD stops polling the listen socket and hands it back; closing it at once makes new
     * connections fail fast instead of piling up in the kernel's backlog */
    s->quiesced_fd = MHD_quiesce_daemon(s->d);
    if (s->quiesced_fd != MHD_INVALID_SOCKET) {
        close(s->quiesced_fd);
        s->quiesced_fd = MHD_INVALID_SOCKET;
    }
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_mutex_unlock(&s->lock);
    web_hub_wake(&s->ctx); /* open streams end at once instead of holding the drain */
    pthread_mutex_lock(&s->lock);
    wait_zero(s, &s->n_inflight, NULL, kb_now_s() + WEB_DRAIN_S);
    for (struct web_task *t = s->tasks; t; t = t->next) {
        pthread_mutex_lock(&t->lock);
        t->cancel = true;
        pthread_mutex_unlock(&t->lock);
    }
    /* Tasks check for cancellation at every emit; a task stuck inside one long call still has to
     * return before the daemon may stop, because it owns a suspended connection. */
    wait_zero(s, NULL, &s->n_tasks, kb_now_s() + 3600.0);
    /* Threadless streams: their owner (the handoff hub, woken above) closes them; none may stay
     * suspended when the daemon stops. */
    wait_zero(s, NULL, &s->n_streams, kb_now_s() + 3600.0);
    s->watchdog_stop = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (s->watchdog_started)
        pthread_join(s->watchdog, NULL);
    MHD_stop_daemon(s->d);
    web_tls_close(s->tls);
    if (s->quiesced_fd != MHD_INVALID_SOCKET)
        close(s->quiesced_fd);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    ctx_release(&s->ctx);
    free(s);
}

int web_server_reload_tls(struct web_server *s, struct kb_error *err)
{
    return s && s->tls ? web_tls_reload(s->tls, err) : 0;
}

bool web_server_tls(const struct web_server *s)
{
    return s && s->tls;
}

int web_server_port(const struct web_server *s)
{
    return s->port;
}

const char *web_server_admin_token(const struct web_server *s)
{
    return s->ctx.admin_token;
}

const char *web_server_setup_token(const struct web_server *s)
{
    return s->ctx.setup_token; /* read once at start-up, before any request could clear it */
}

int64_t web_server_login_hashes(const struct web_server *s)
{
    return __atomic_load_n(&s->ctx.n_login_hashes, __ATOMIC_RELAXED);
}
