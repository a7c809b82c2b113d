/* rag/notify.c: notifications of new handoffs and tickets (issue #17): a webhook POST in one of five
 * shapes and an e-mail through SMTP, both with Debian's libcurl, delivered by one background thread
 * with retries and backoff, every delivery recorded in the store (handoff_notifications,
 * index/store_handoff.c), so failures are visible in the Inbox and pending ones survive a restart.
 *
 * Why a second libcurl file next to rag/remote.c: remote.c is the OpenAI-wire client with its
 * breaker and stream parser; a notification is a fire-and-record POST or SMTP transfer that shares
 * nothing with it but curl_global_init (done here through the same pthread_once pattern).
 *
 * Webhook bodies (handoff.webhook_format; TEXT is one line "kbox: new handoff #ID (trigger) ..."):
 *   generic  {"event":"handoff"|"ticket","id","kind","trigger","bot","name","contact","message","created_at","text":TEXT}
 *   wecom    {"msgtype":"text","text":{"content":TEXT}}          (WeCom group robot)
 *   dingtalk {"msgtype":"text","text":{"content":TEXT}}          (DingTalk custom robot)
 *   feishu   {"msg_type":"text","content":{"text":TEXT}}         (Feishu/Lark custom bot)
 *   slack    {"text":TEXT}                                       (Slack incoming webhook)
 * A 2xx answer is delivered (the robots answer 200 with their own error code in JSON for a bad key;
 * that is not inspected). E-mail: smtp://host:port (smtps:// on 465), STARTTLS required with
 * handoff.smtp_starttls, login with handoff.smtp_user and the password (handoff.smtp_password, or
 * the first line of handoff.smtp_password_file), from handoff.smtp_from to every address of
 * handoff.smtp_to; a plain-text message with a Subject and the same TEXT and fields.
 *
 * Retries: attempt k (1-based) failing sets next_at = now + min(2^(k-1), 300) s; after
 * handoff.notify_retries + 1 attempts the delivery is "failed". Each attempt is bounded by
 * handoff.notify_timeout_s, so a hanging target holds only this thread, never a customer.
 * Secrets: the webhook URL (robot URLs carry their key) and the SMTP password never reach a log line
 * or last_error: errors name the host only.
 * Threads: the worker starts with the first notification queued (rag_handoff_notify) or at
 * rag_open when deliveries are pending, wakes on a condition variable or every second, and is
 * stopped and joined by rag_close. Tests: tests/web/test_handoff.c (test_notify: a webhook receiver
 * and an SMTP sink on 127.0.0.1 in the test). */
#include "rag/rag_int.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOTIFY_BACKOFF_CAP_S 300

struct rag_notifier {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    bool kick;                 /* a delivery was queued */
};

static pthread_once_t notify_curl_once = PTHREAD_ONCE_INIT;

static void notify_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The host part of url, for error messages that must not carry the path or query (keys). */
static void notify_host(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    size_t k;
    p = p ? p + 3 : url;
    k = strcspn(p, "/?#");
    if (memchr(p, '@', k)) { /* user:pass@host */
        const char *at = memchr(p, '@', k);
        k -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    snprintf(out, n, "%.*s", (int)(k < 200 ? k : 200), p);
}

static void notify_text(const struct index_handoff *h, char *out, size_t n)
{
    if (!strcmp(h->kind, "ticket"))
        snprintf(out, n, "kbox: new ticket #%lld from %s (%s): %.500s", (long long)h->id, h->name, h->contact,
                 h->message);
    else
        snprintf(out, n, "kbox: new handoff #%lld (%s) is waiting for an agent in the Inbox", (long long)h->id,
                 h->trigger);
}

static void notify_body(const char *format, const struct index_handoff *h, struct kb_buf *out)
{
    char text[1200];
    struct jw w;
    notify_text(h, text, sizeof text);
    jw_init(&w, out);
    jw_obj(&w, NULL);
    if (!strcmp(format, "wecom") || !strcmp(format, "dingtalk")) {
        jw_str(&w, "msgtype", "text");
        jw_obj(&w, "text");
        jw_str(&w, "content", text);
        jw_end_obj(&w);
    } else if (!strcmp(format, "feishu")) {
        jw_str(&w, "msg_type", "text");
        jw_obj(&w, "content");
        jw_str(&w, "text", text);
        jw_end_obj(&w);
    } else if (!strcmp(format, "slack")) {
        jw_str(&w, "text", text);
    } else {
        jw_str(&w, "event", !strcmp(h->kind, "ticket") ? "ticket" : "handoff");
        jw_int(&w, "id", h->id);
        jw_str(&w, "kind", h->kind);
        jw_str(&w, "trigger", h->trigger);
        jw_str(&w, "bot", h->bot_id);
        jw_str(&w, "name", h->name);
        jw_str(&w, "contact", h->contact);
        jw_str(&w, "message", h->message);
        jw_int(&w, "created_at", h->created_at);
        jw_str(&w, "text", text);
    }
    jw_end_obj(&w);
}

static size_t notify_discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)ud;
    return size * n;
}

struct notify_src {
    const char *p;
    size_t left;
};

static size_t notify_read(char *buf, size_t size, size_t n, void *ud)
{
    struct notify_src *s = ud;
    size_t k = size * n < s->left ? size * n : s->left;
    memcpy(buf, s->p, k);
    s->p += k;
    s->left -= k;
    return k;
}

static int notify_webhook(const struct config *cfg, const struct index_handoff *h, char *why, size_t why_n)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    struct kb_buf body;
    char host[256];
    long status = 0;
    CURLcode cc;
    int rc = 0;
    kb_buf_init(&body, 0);
    notify_body(cfg->handoff_webhook_format, h, &body);
    notify_host(cfg->handoff_webhook_url, host, sizeof host);
    hd = curl_slist_append(hd, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, cfg->handoff_webhook_url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body.len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)cfg->handoff_notify_timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, notify_discard);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        snprintf(why, why_n, "webhook %s: %s", host, curl_easy_strerror(cc));
        rc = KB_EIO;
    } else if (status < 200 || status > 299) {
        snprintf(why, why_n, "webhook %s: HTTP %ld", host, status);
        rc = KB_EIO;
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    kb_buf_release(&body);
    return rc;
}

/* The SMTP password: the key, else the first line of the file ("" when neither). */
static void notify_password(const struct config *cfg, char *out, size_t n)
{
    kb_strlcpy(out, cfg->handoff_smtp_password, n);
    if (!out[0] && cfg->handoff_smtp_password_file[0]) {
        FILE *f = fopen(cfg->handoff_smtp_password_file, "r");
        if (f) {
            if (fgets(out, (int)n, f))
                out[strcspn(out, "\r\n")] = '\0';
            fclose(f);
        }
    }
}

static int notify_email(const struct config *cfg, const struct index_handoff *h, char *why, size_t why_n)
{
    CURL *c = curl_easy_init();
    struct curl_slist *rcpt = NULL;
    struct kb_buf msg;
    struct notify_src src;
    char url[400], text[1200], pw[1100], to[2100];
    CURLcode cc;
    int rc = 0;
    kb_buf_init(&msg, 0);
    notify_text(h, text, sizeof text);
    notify_password(cfg, pw, sizeof pw);
    snprintf(url, sizeof url, "%s://%s:%lld", cfg->handoff_smtp_port == 465 ? "smtps" : "smtp",
             cfg->handoff_smtp_host, (long long)cfg->handoff_smtp_port);
    kb_strlcpy(to, cfg->handoff_smtp_to, sizeof to);
    for (char *a = to, *e; a && *a; a = e ? e + 1 : NULL) { /* the comma-separated recipients */
        if ((e = strchr(a, ',')))
            *e = '\0';
        while (*a == ' ')
            a++;
        if (*a)
            rcpt = curl_slist_append(rcpt, a);
    }
    kb_buf_printf(&msg, "From: %s\r\nTo: %s\r\nSubject: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"
                        "\r\nid: %lld\r\nkind: %s\r\ntrigger: %s\r\nname: %s\r\ncontact: %s\r\nmessage: %s\r\n",
                  cfg->handoff_smtp_from, cfg->handoff_smtp_to,
                  !strcmp(h->kind, "ticket") ? "kbox: new ticket" : "kbox: a customer is waiting for an agent", text,
                  (long long)h->id, h->kind, h->trigger, h->name, h->contact, h->message);
    src.p = msg.data;
    src.left = msg.len;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, cfg->handoff_smtp_from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, notify_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)cfg->handoff_notify_timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (cfg->handoff_smtp_starttls && cfg->handoff_smtp_port != 465)
        curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (cfg->handoff_smtp_user[0]) {
        curl_easy_setopt(c, CURLOPT_USERNAME, cfg->handoff_smtp_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, pw);
    }
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(why, why_n, "smtp %s:%lld: %s", cfg->handoff_smtp_host, (long long)cfg->handoff_smtp_port,
                 curl_easy_strerror(cc));
        rc = KB_EIO;
    }
    memset(pw, 0, sizeof pw);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    kb_buf_release(&msg);
    return rc;
}

/* One attempt of delivery x; records the outcome. */
static void notify_one(struct rag *r, const struct config *cfg, const struct index_notify *x)
{
    struct kb_arena a;
    struct index_handoff h;
    struct kb_error err = {0};
    char why[512] = "";
    int rc, attempts = x->attempts + 1;
    kb_arena_init(&a, 4096, 0);
    if ((rc = index_handoff_get(r->st, x->handoff_id, NULL, &a, &h, &err)))
        snprintf(why, sizeof why, "%s", err.msg);
    else if (!strcmp(x->channel, "webhook"))
        rc = cfg->handoff_webhook_url[0] ? notify_webhook(cfg, &h, why, sizeof why)
                                         : (snprintf(why, sizeof why, "handoff.webhook_url is empty"), KB_ECONFIG);
    else
        rc = cfg->handoff_smtp_host[0] ? notify_email(cfg, &h, why, sizeof why)
                                       : (snprintf(why, sizeof why, "handoff.smtp_host is empty"), KB_ECONFIG);
    if (rc == 0) {
        rc = index_notify_update(r->st, x->id, "sent", attempts, 0, "", &err);
    } else {
        int64_t back = (int64_t)1 << (attempts - 1 < 9 ? attempts - 1 : 9);
        bool failed = attempts > cfg->handoff_notify_retries;
        kb_warn("handoff notification %lld (%s), attempt %d: %s%s", (long long)x->id, x->channel, attempts, why,
                failed ? "; giving up" : "");
        rc = index_notify_update(r->st, x->id, failed ? "failed" : "pending", attempts,
                                 (int64_t)time(NULL) + (back < NOTIFY_BACKOFF_CAP_S ? back : NOTIFY_BACKOFF_CAP_S),
                                 why, &err);
    }
    if (rc)
        kb_warn("handoff notification %lld: %s", (long long)x->id, err.msg);
    kb_arena_release(&a);
}

static void *notify_main(void *arg)
{
    struct rag *r = arg;
    struct rag_notifier *n = r->notifier;
    for (;;) {
        struct kb_arena a;
        struct index_notify *due;
        struct kb_error err = {0};
        int n_due = 0;
        struct timespec ts;
        pthread_mutex_lock(&n->mu);
        if (!n->kick && !n->stopping) {
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&n->cv, &n->mu, &ts);
        }
        n->kick = false;
        if (n->stopping) {
            pthread_mutex_unlock(&n->mu);
            break;
        }
        pthread_mutex_unlock(&n->mu);
        kb_arena_init(&a, 16 * 1024, 0);
        if (index_notify_list(r->st, false, (int64_t)time(NULL), 50, &a, &due, &n_due, &err))
            kb_warn("handoff notifications: %s", err.msg);
        for (int i = 0; i < n_due; i++) {
            const struct config *cfg = rag_config_get(r);
            notify_one(r, cfg, &due[i]);
            rag_config_put(r, cfg);
        }
        kb_arena_release(&a);
    }
    return NULL;
}

/* Starts the worker once. */
static void notify_start(struct rag *r)
{
    pthread_mutex_lock(&r->lock);
    if (!r->notifier) {
        struct rag_notifier *n = kb_xcalloc(1, sizeof *n);
        pthread_once(&notify_curl_once, notify_curl_init);
        pthread_mutex_init(&n->mu, NULL);
        pthread_cond_init(&n->cv, NULL);
        n->kick = true;
        r->notifier = n;
        if (pthread_create(&n->thread, NULL, notify_main, r) != 0) {
            kb_warn("handoff notifications: cannot start their thread");
            pthread_cond_destroy(&n->cv);
            pthread_mutex_destroy(&n->mu);
            free(n);
            r->notifier = NULL;
        }
    }
    pthread_mutex_unlock(&r->lock);
}

int rag_handoff_notify(struct rag *r, int64_t handoff_id, struct kb_error *err)
{
    const struct config *cfg = rag_config_get(r);
    int rc = 0;
    bool any = false;
    if (cfg->handoff_webhook_url[0] && (rc = index_notify_add(r->st, handoff_id, "webhook", err)) == 0)
        any = true;
    if (rc == 0 && cfg->handoff_smtp_host[0] && cfg->handoff_smtp_to[0] &&
        (rc = index_notify_add(r->st, handoff_id, "email", err)) == 0)
        any = true;
    rag_config_put(r, cfg);
    if (any) {
        notify_start(r);
        if (r->notifier) {
            pthread_mutex_lock(&r->notifier->mu);
            r->notifier->kick = true;
            pthread_cond_signal(&r->notifier->cv);
            pthread_mutex_unlock(&r->notifier->mu);
        }
    }
    return rc;
}

void rag_notify_resume(struct rag *r)
{
    struct kb_arena a;
    struct index_notify *due;
    struct kb_error err = {0};
    int n = 0;
    kb_arena_init(&a, 4096, 0);
    if (index_notify_list(r->st, false, INT64_MAX, 1, &a, &due, &n, &err) == 0 && n > 0)
        notify_start(r);
    kb_arena_release(&a);
}

void rag_notify_close(struct rag *r)
{
    struct rag_notifier *n = r->notifier;
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    n->stopping = true;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->thread, NULL);
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n);
    r->notifier = NULL;
}
