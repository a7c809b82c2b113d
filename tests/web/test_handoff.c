/* tests/web/test_handoff.c: human handoff (issue #17) over real HTTP on 127.0.0.1: a real server
 * (web_server_start over a real rag in a fresh data directory, real SQLite) driven with raw requests
 * (tests/web/http.c) and raw SSE readers on their own sockets (tests/support/sse.c).
 * - test_tz: zone names read from the system's TZif files (base/tz.c): DST at the transition
 *   second, in the footer rule past 2037, southern hemisphere; rules of a slim file of our own;
 *   a missing zone, a name leaving the zone directory, every truncation and a corrupt file refused;
 * - test_hours, test_keywords: handoff.hours / handoff.timezone parsing and matching, keywords as
 *   whole words (English) and substrings (Chinese), tables;
 * - test_live_chat: keyword and fallback triggers in /api/ask, thumbs-down in /api/feedback; no agent
 *   online -> 409 and the status says "offline"; an Inbox stream makes its agent online; queue and
 *   positions; the customer's stream gets every event with its id; two agents take at once from two
 *   threads: exactly one 200, the other 409; messages from the non-holder 403 and not stored; a
 *   message of 4001 characters 400, 4000 fine; /api/ask stays silent (409) while a person holds the
 *   conversation; a stream resumed with Last-Event-ID gets the next events and no repeat; the agent's
 *   view has the bot's answers with citations; a restart keeps queue and held conversation; close,
 *   rate (once, 1..5), messages after close 403; the wait timeout event; a queued chat turned ticket,
 *   a fresh ticket and the form's errors; a malformed token 400, an unknown one 404; a viewer gets 403 on the Inbox;
 * - test_out_of_hours: outside handoff.hours live chat is refused (409, reason "hours") even with
 *   an agent online, and the ticket path works; bad handoff.hours/timezone refused at run time and open;
 * - test_notify: a webhook receiver and an SMTP sink the test runs on 127.0.0.1: the generic JSON,
 *   then the WeCom, DingTalk, Feishu and Slack shapes switched at run time, an e-mail to two
 *   recipients; a hanging target does not hold the customer's request, is retried and marked failed
 *   in the Inbox with an error naming the host only; the robot key never reaches the log;
 * - test_bot_handoff: a bot's own handoff settings: bad values named (400), a bot with handoff off
 *   offers no person on the global keyword, a fallback streak or a thumbs-down, its status says
 *   disabled and its requests and tickets get 403; a bot's own keyword triggers where the global
 *   list does not, its fallback count and thumbs-down setting apply; "inherit" restores the global;
 * - test_coll_handoff: a collection's own handoff settings (GET/PUT /api/collections/{id}/handoff):
 *   unknown collection 404, bad values 400 naming the member; a collection with the keyword trigger,
 *   the fallback streak and thumbs-down off offers no person where another collection does; a bot's
 *   own setting beats its collection's, a bot over two collections follows the one that is off;
 *   handoff off for a collection makes its bot's status disabled and its requests 403, and the same
 *   for a status, request or ticket naming the collection (a data-collection widget); "inherit"
 *   restores the global keys; the settings survive a restart;
 * - test_stream_threads: 40 waiting streams and an Inbox add no thread each (Threads: of this
 *   process); a take moves every position, a reply reaches its customer only; stopping the server
 *   with every stream open returns and ends each stream; the queue survives the restart;
 * - test_coll_agent: an agent limited to one collection lists, streams, views, takes, writes to and
 *   closes only the handoffs of the bot over that collection; the others 404 and stay unchanged;
 *   while only that agent is online, live chat is offered to that bot's customers only;
 * - test_handoff_log: a handoff's customer and agent messages join its bot conversation's log
 *   (export) but not the Inbox's list of the bot's turns, the statistics stay the bot's, a handoff
 *   with no bot conversation logs nothing. */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "config/config.h"
#include "rag/rag.h"
#include "web/web.h"

#include "http.h"
#include "webfix.h"
#include "../support/sse.h"

#define TOKEN "test-admin-token-0123456789abcdef"
#define AUTH "Authorization: Bearer " TOKEN

static const char *const admin[] = {AUTH, "Content-Type: application/json", NULL};
static const char *const public_h[] = {"Content-Type: application/json", NULL};

static struct webfix *fixture_new(const char *hours)
{
    struct webfix *f = webfix_new("handoff");
    webfix_set(f, "server.admin_token", TOKEN);
    webfix_set(f, "server.rate_limit_per_min", "0");
    webfix_set(f, "log.level", "warn");
    webfix_set(f, "handoff.wait_seconds", "2");
    if (hours)
        webfix_set(f, "handoff.hours", hours);
    webfix_start(f, 4);
    return f;
}

/* One request; fails unless the status is want. The caller frees r. */
static void call(struct webfix *f, const char *method, const char *path, const char *const *hdrs, const char *body,
                 int want, struct http_resp *r)
{
    assert_int_equal(http_req(f->port, method, path, hdrs, body, body ? strlen(body) : 0, r), 0);
    if (r->status != want)
        fail_msg("%s %s: status %d, want %d; body: %s", method, path, r->status, want, r->body);
}

/* A request whose body must contain each of the NULL-terminated fragments. */
static void expect(struct webfix *f, const char *method, const char *path, const char *const *hdrs, const char *body,
                   int want, const char *frag, const char *frag2)
{
    struct http_resp r;
    call(f, method, path, hdrs, body, want, &r);
    if ((frag && !strstr(r.body, frag)) || (frag2 && !strstr(r.body, frag2)))
        fail_msg("%s %s: body %s lacks '%s' / '%s'", method, path, r.body, frag ? frag : "", frag2 ? frag2 : "");
    http_resp_free(&r);
}

/* The string value of "key" in a flat JSON body, into out. */
static void json_str(const char *body, const char *key, char *out, size_t n)
{
    char pat[64];
    const char *p, *e;
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    p = strstr(body, pat);
    if (!p)
        fail_msg("no %s in %s", key, body);
    p += strlen(pat);
    e = strchr(p, '"');
    assert_non_null(e);
    assert_true((size_t)(e - p) < n);
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
}

static int64_t json_int(const char *body, const char *key)
{
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(body, pat);
    if (!p)
        fail_msg("no %s in %s", key, body);
    return strtoll(p + strlen(pat), NULL, 10);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* ---- units ----------------------------------------------------------------------------------------------- */

static void test_hours(void **state)
{
    /* 2026-12-07 is a Monday; 10:30 UTC */
    const int64_t mon_1030 = 1796639400;
    static const struct {
        const char *hours, *tz;
        int64_t add_s;
        int want; /* 1 open, 0 closed, -1 KB_ECONFIG */
    } cases[] = {
        {"", "UTC", 0, 1},
        {"Mon-Fri 09:00-18:00", "UTC", 0, 1},
        {"Mon-Fri 09:00-18:00", "+08:00", 0, 0},          /* 18:30 in +08:00 */
        {"Mon-Fri 09:00-18:00", "-05:00", 0, 0},          /* 05:30 */
        {"Mon-Fri 09:00-18:00", "UTC", 5 * 86400, 0},     /* Saturday */
        {"Mon-Fri 09:00-18:00, Sat 10:00-14:00", "UTC", 5 * 86400, 1},
        {"sat-mon 10:00-11:00", "UTC", 0, 1},             /* a span that wraps, any case */
        {"Tue 00:00-24:00", "UTC", 0, 0},
        {"Mon 10:30-10:31", "UTC", 0, 1},
        {"Mon 10:00-10:30", "UTC", 0, 0},                 /* the end is exclusive */
        {"Mon-Fri 9:00-18:00", "UTC", 0, -1},
        {"Mon-Fri 18:00-09:00", "UTC", 0, -1},
        {"Funday 09:00-18:00", "UTC", 0, -1},
        {"Mon-Fri 09:00-18:00;", "UTC", 0, -1},
        {"Mon-Fri 09:00-25:00", "UTC", 0, -1},
        {"", "Europe/Nowhere", 0, -1},
        {"", "../etc/passwd", 0, -1},
        {"Mon 11:00-12:00", "Europe/Berlin", 0, 1},       /* 11:30 CET (+01:00) in December */
        {"Mon 10:00-11:00", "Europe/Berlin", 0, 0},
        {"Mon 12:00-13:00", "Europe/Berlin", -154 * 86400, 1}, /* 2026-07-06: 12:30 CEST (+02:00) */
        {"Mon 11:00-12:00", "Europe/Berlin", -154 * 86400, 0},
        {"Mon-Fri 09:00-18:00", "Asia/Shanghai", 0, 0},   /* 18:30 */
        {"Mon 18:00-19:00", "Asia/Shanghai", 0, 1},
        {"", "+15:00", 0, -1},
    };
    (void)state;
    assert_int_equal(sizeof(time_t) >= 8, 1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct kb_error err = {0};
        bool open = false;
        int rc = rag_handoff_in_hours(cases[i].hours, cases[i].tz, mon_1030 + cases[i].add_s, &open, &err);
        if (cases[i].want < 0) {
            if (rc != KB_ECONFIG || !strstr(err.msg, "handoff."))
                fail_msg("case %zu '%s' %s: rc %d '%s', want KB_ECONFIG", i, cases[i].hours, cases[i].tz, rc, err.msg);
        } else if (rc != 0 || open != (cases[i].want == 1)) {
            fail_msg("case %zu '%s' %s: rc %d open %d, want %d (%s)", i, cases[i].hours, cases[i].tz, rc, open,
                     cases[i].want, err.msg);
        }
    }
}

/* A TZif file of version 2 with no transitions (a "slim" file): a minimal 32-bit block, the same
 * with 64-bit times, then the footer rule. Into buf; returns its length. */
static size_t tzif_slim(unsigned char *buf, const char *rule)
{
    size_t n = 0;
    for (int block = 0; block < 2; block++) {
        memset(buf + n, 0, 44);
        memcpy(buf + n, "TZif2", 5);
        buf[n + 39] = 1; /* typecnt 1 */
        buf[n + 43] = 4; /* charcnt 4 */
        n += 44;
        memset(buf + n, 0, 6 + 4); /* one type: offset 0, not DST, abbreviation 0; "UTC\0" */
        memcpy(buf + n + 6, "UTC", 4);
        n += 10;
    }
    n += (size_t)snprintf((char *)buf + n, 512 - n, "\n%s\n", rule); /* callers' buffers hold 512 */
    return n;
}

/* Zone names (base/tz.c): DST changes at the right second in the zone files' transitions and in
 * their footer rules (after 2037), the southern hemisphere, rules in a file of our own, and clear
 * errors for a missing zone, a name leaving the zone directory and corrupt files. */
static void test_tz(void **state)
{
    static const struct {
        const char *zone;
        int64_t t;
        int32_t off;
    } cases[] = {
        {"Europe/Berlin", 1774745999, 3600},  /* 2026-03-29 00:59:59 UTC: still CET */
        {"Europe/Berlin", 1774746000, 7200},  /* 01:00:00 UTC: CEST */
        {"Europe/Berlin", 1792889999, 7200},  /* 2026-10-25 00:59:59 UTC */
        {"Europe/Berlin", 1792890000, 3600},
        {"Europe/Berlin", 2382523200, 7200},  /* 2045-07-01: past the listed transitions, the rule */
        {"Europe/Berlin", 2366884800, 3600},  /* 2045-01-01 */
        {"Europe/Berlin", 2405552399, 3600},  /* 2046-03-25 00:59:59 UTC (the rule's last Sunday) */
        {"Europe/Berlin", 2405552400, 7200},
        {"Asia/Shanghai", 1782907200, 28800}, /* no DST */
        {"Asia/Shanghai", 2382523200, 28800},
        {"Australia/Sydney", 1768478400, 39600}, /* January: AEDT */
        {"Australia/Sydney", 1784116800, 36000}, /* July: AEST */
        {"Australia/Sydney", 2399630400, 39600}, /* 2046 */
        {"Australia/Sydney", 2415268800, 36000},
    };
    static const struct {
        const char *rule;
        int64_t t;
        int32_t off;
    } rules[] = {
        {"CET-1CEST,M3.5.0,M10.5.0/3", 1774745999, 3600},
        {"CET-1CEST,M3.5.0,M10.5.0/3", 1774746000, 7200},
        {"CET-1CEST,M3.5.0,M10.5.0/3", 1792889999, 7200},
        {"CET-1CEST,M3.5.0,M10.5.0/3", 1792890000, 3600},
        {"EST5EDT,M3.2.0,M11.1.0", 1782907200, -14400},
        {"EST5EDT,M3.2.0,M11.1.0", 1768478400, -18000},
        {"<+0330>-3:30", 1782907200, 12600},
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", 1768478400, 39600},
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", 1784116800, 36000},
        {"XST3XDT,J60/0,J300/0", 1782907200, -7200}, /* Julian days, DST in between */
        {"", 1782907200, 0},                       /* no rule: the last type */
    };
    static const char *const bad_rules[] = {"CET", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0",
                                            "CET-1CEST,M3.6.0,M10.5.0", "<+03-3", "CET-1CEST,M3.5.0,M10.5.0/200"};
    unsigned char buf[512];
    char dir[] = "/tmp/kbox-tz-test-XXXXXX", path[256];
    struct kb_error err = {0};
    struct kb_tz *tz;
    FILE *fp;
    size_t n;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (kb_tz_load(NULL, cases[i].zone, &tz, &err))
            fail_msg("%s: %s", cases[i].zone, err.msg);
        if (kb_tz_offset(tz, cases[i].t) != cases[i].off)
            fail_msg("%s at %lld: %d, want %d", cases[i].zone, (long long)cases[i].t, kb_tz_offset(tz, cases[i].t),
                     cases[i].off);
        kb_tz_free(tz);
    }
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        n = tzif_slim(buf, rules[i].rule);
        if (kb_tz_parse(buf, n, &tz, &err))
            fail_msg("rule '%s': %s", rules[i].rule, err.msg);
        if (kb_tz_offset(tz, rules[i].t) != rules[i].off)
            fail_msg("rule '%s' at %lld: %d, want %d", rules[i].rule, (long long)rules[i].t,
                     kb_tz_offset(tz, rules[i].t), rules[i].off);
        kb_tz_free(tz);
    }
    for (size_t i = 0; i < sizeof bad_rules / sizeof bad_rules[0]; i++) {
        n = tzif_slim(buf, bad_rules[i]);
        tz = (struct kb_tz *)buf;
        if (kb_tz_parse(buf, n, &tz, &err) != KB_ECORRUPT || tz || !strstr(err.msg, "rule"))
            fail_msg("bad rule '%s' accepted or unnamed: %s", bad_rules[i], err.msg);
    }
    /* every cut of a valid file is refused, none read past the end (ASan watches) */
    n = tzif_slim(buf, "CET-1CEST,M3.5.0,M10.5.0/3");
    for (size_t cut = 0; cut < n; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf, cut);
        assert_int_equal(kb_tz_parse(copy, cut, &tz, &err), KB_ECORRUPT);
        assert_null(tz);
        free(copy);
    }
    memcpy(buf, "TZjf", 4);
    assert_int_equal(kb_tz_parse(buf, n, &tz, &err), KB_ECORRUPT);
    assert_non_null(strstr(err.msg, "not a TZif file"));
    /* names */
    assert_int_equal(kb_tz_load(NULL, "Europe/Nowhere", &tz, &err), KB_ECONFIG);
    assert_non_null(strstr(err.msg, "unknown time zone 'Europe/Nowhere'"));
    assert_int_equal(kb_tz_load(NULL, "../../etc/passwd", &tz, &err), KB_ECONFIG);
    assert_int_equal(kb_tz_load(NULL, "/etc/passwd", &tz, &err), KB_ECONFIG);
    assert_int_equal(kb_tz_load(NULL, "Europe//Berlin", &tz, &err), KB_ECONFIG);
    assert_int_equal(kb_tz_load(NULL, "Europe/Berlin;", &tz, &err), KB_ECONFIG);
    /* a corrupt zone file: the name, the path and what is wrong */
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/Bad", dir);
    assert_non_null(fp = fopen(path, "wb"));
    n = tzif_slim(buf, "CET-1CEST,M3.5.0,M10.5.0/3");
    buf[39] = 200; /* typecnt 200 with room for one */
    fwrite(buf, 1, n, fp);
    fclose(fp);
    assert_int_equal(kb_tz_load(dir, "Bad", &tz, &err), KB_ECORRUPT);
    assert_non_null(strstr(err.msg, "time zone 'Bad'"));
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void test_keywords(void **state)
{
    static const char kw[] = "human, agent ,转人工,人工客服";
    static const struct {
        const char *q;
        bool want;
    } cases[] = {
        {"Can I talk to a HUMAN please?", true}, {"agent", true},       {"I need an agent.", true},
        {"what do agents earn", false},          {"reagent storage", false}, {"humanity", false},
        {"我要转人工", true},                     {"请帮我接人工客服", true}, {"人工智能是什么", false},
        {"", false},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (rag_handoff_keyword(kw, cases[i].q) != cases[i].want)
            fail_msg("keyword case %zu '%s': want %d", i, cases[i].q, cases[i].want);
    assert_false(rag_handoff_keyword("", "human"));
    {
        struct kb_error err = {0};
        char big[4 * 4001 + 1];
        size_t n = 0;
        for (int i = 0; i < 4000; i++)
            n += (size_t)snprintf(big + n, sizeof big - n, "字");
        assert_int_equal(rag_handoff_text_check(big, &err), 0); /* 4000 characters, 12000 bytes */
        snprintf(big + n, sizeof big - n, "a");
        assert_int_equal(rag_handoff_text_check(big, &err), KB_EINVAL);
        assert_non_null(strstr(err.msg, "4001 characters"));
        assert_int_equal(rag_handoff_text_check("", &err), KB_EINVAL);
        assert_int_equal(rag_handoff_text_check("\xff\xfe", &err), KB_EINVAL);
    }
}

/* ---- over HTTP ----------------------------------------------------------------------------------------- */

struct take_arg {
    struct webfix *f;
    const char *const *hdrs;
    const char *path;
    int status;
    pthread_barrier_t *bar;
};

static void *take_thread(void *p)
{
    struct take_arg *a = p;
    struct http_resp r;
    pthread_barrier_wait(a->bar);
    if (http_req(a->f->port, "POST", a->path, a->hdrs, "{}", 2, &r) == 0) {
        a->status = r.status;
        http_resp_free(&r);
    }
    return NULL;
}

/* Logs in user email (password pass-ROLE) and fills the bearer header line into hdr. */
static void agent_login(struct webfix *f, const char *email, const char *role, char *hdr, size_t n)
{
    char body[256], tok[128];
    struct http_resp r;
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"role\":\"%s\",\"password\":\"pass-%s\"}", email, role, role);
    call(f, "POST", "/api/users", admin, body, 201, &r);
    http_resp_free(&r);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"pass-%s\",\"token\":true}", email, role);
    call(f, "POST", "/api/login", public_h, body, 200, &r);
    json_str(r.body, "token", tok, sizeof tok);
    http_resp_free(&r);
    snprintf(hdr, n, "Authorization: Bearer %s", tok);
}

/* Asks the bot; the conversation secret and message id of the answer into secret/mid. */
static void ask(struct webfix *f, const char *question, const char *secret_in, char secret[33], int64_t *mid,
                const char *want_offer)
{
    char body[512];
    struct http_resp r;
    snprintf(body, sizeof body, "{\"question\":\"%s\",\"channel\":\"widget\"%s%s%s}", question,
             secret_in ? ",\"conversation_secret\":\"" : "", secret_in ? secret_in : "", secret_in ? "\"" : "");
    call(f, "POST", "/api/ask", public_h, body, 200, &r);
    json_str(r.body, "conversation_secret", secret, 33);
    *mid = json_int(r.body, "message_id");
    if (want_offer) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"handoff_offer\":\"%s\"", want_offer);
        if (!strstr(r.body, pat))
            fail_msg("ask '%s': no %s in %s", question, pat, r.body);
    } else if (strstr(r.body, "handoff_offer")) {
        fail_msg("ask '%s': unexpected offer in %s", question, r.body);
    }
    http_resp_free(&r);
}

/* Requests a person; token and id out. */
static int64_t request_person(struct webfix *f, const char *secret, char token[33], int64_t want_pos)
{
    char body[256];
    struct http_resp r;
    int64_t id;
    snprintf(body, sizeof body, "{\"trigger\":\"button\"%s%s%s}", secret ? ",\"conversation_secret\":\"" : "",
             secret ? secret : "", secret ? "\"" : "");
    call(f, "POST", "/api/handoff", public_h, body, 200, &r);
    json_str(r.body, "token", token, 33);
    id = json_int(r.body, "id");
    assert_int_equal(json_int(r.body, "position"), want_pos);
    http_resp_free(&r);
    return id;
}

static void test_live_chat(void **state)
{
    struct webfix *f = fixture_new(NULL);
    char secret[33], secret2[33], tok1[33], tok2[33], path[256], body[8200], bhdr[300], vhdr[300];
    const char *b_h[] = {bhdr, "Content-Type: application/json", NULL};
    const char *v_h[] = {vhdr, NULL};
    const char *win_h[3], *lose_h[3];
    int64_t mid, id1, id2, seq_customer;
    struct sse inbox, cust, cust2, waiting;
    struct http_resp r;
    (void)state;

    /* triggers: a keyword, two fallbacks in a row, a thumbs-down */
    ask(f, "Can I talk to a human", NULL, secret, &mid, "keyword");
    ask(f, "what is the warranty on kettles", NULL, secret2, &mid, NULL); /* one fallback: not yet */
    usleep(200 * 1000); /* the log's writer commits within 25 ms */
    ask(f, "and for toasters", secret2, secret2, &mid, "fallbacks");
    snprintf(body, sizeof body, "{\"message_id\":%lld,\"secret\":\"%s\",\"vote\":-1}", (long long)mid, secret2);
    expect(f, "POST", "/api/feedback", public_h, body, 200, "\"handoff_offer\":\"thumbs_down\"", NULL);
    snprintf(body, sizeof body, "{\"message_id\":%lld,\"secret\":\"%s\",\"vote\":1}", (long long)mid, secret2);
    call(f, "POST", "/api/feedback", public_h, body, 200, &r);
    assert_null(strstr(r.body, "handoff_offer"));
    http_resp_free(&r);

    /* nobody online: no live chat */
    expect(f, "GET", "/api/handoff/status", NULL, NULL, 200, "\"live\":false", "\"reason\":\"offline\"");
    expect(f, "POST", "/api/handoff", public_h, "{}", 409, "no agent is online", NULL);
    expect(f, "POST", "/api/handoff", public_h, "{\"trigger\":\"magic\"}", 400, "trigger must be", NULL);
    expect(f, "POST", "/api/handoff", public_h, "{\"conversation_secret\":\"xyz\"}", 400, "conversation_secret", NULL);

    /* accounts: agent B, a viewer; the viewer may not see the Inbox */
    agent_login(f, "b@example.com", "agent", bhdr, sizeof bhdr);
    agent_login(f, "v@example.com", "viewer", vhdr, sizeof vhdr);
    expect(f, "GET", "/api/inbox", v_h, NULL, 403, NULL, NULL);
    expect(f, "GET", "/api/inbox", NULL, NULL, 401, NULL, NULL);

    /* the admin's Inbox stream: online */
    sse_open(&inbox, f->port, "/api/inbox/stream", AUTH);
    assert_true(sse_wait(&inbox, "event: inbox", 5000));
    expect(f, "GET", "/api/handoff/status", NULL, NULL, 200, "\"live\":true", "\"agents_online\":1");

    id1 = request_person(f, secret, tok1, 1);
    id2 = request_person(f, NULL, tok2, 2);
    assert_true(id2 > id1);
    assert_true(sse_wait(&inbox, "\"state\":\"queued\"", 5000));

    /* the customer's stream: the queued state with id 1, the position */
    snprintf(path, sizeof path, "/api/handoff/stream?token=%s", tok1);
    sse_open(&cust, f->port, path, NULL);
    assert_true(sse_wait(&cust, "id: 1\nevent: state", 5000));
    assert_true(sse_wait(&cust, "event: position\ndata: {\"position\":1}", 5000));

    /* the customer writes; an agent who does not hold it cannot; a message too long is refused */
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"text\":\"hello, my kettle leaks\"}", tok1);
    call(f, "POST", "/api/handoff/messages", public_h, body, 200, &r);
    seq_customer = json_int(r.body, "seq");
    assert_int_equal(seq_customer, 2);
    http_resp_free(&r);
    assert_true(sse_wait(&cust, "id: 2\nevent: message", 5000));
    assert_true(sse_wait(&cust, "hello, my kettle leaks", 5000));
    snprintf(path, sizeof path, "/api/inbox/%lld/messages", (long long)id1);
    expect(f, "POST", path, b_h, "{\"text\":\"sneaky\"}", 403, "do not hold", NULL);
    {
        size_t n = (size_t)snprintf(body, sizeof body, "{\"token\":\"%s\",\"text\":\"", tok1);
        memset(body + n, 'a', 4001);
        snprintf(body + n + 4001, sizeof body - n - 4001, "\"}");
        expect(f, "POST", "/api/handoff/messages", public_h, body, 400, "4001 characters", NULL);
    }

    /* two agents take at once: exactly one wins */
    {
        pthread_t th[2];
        pthread_barrier_t bar;
        static const char *const a_h[] = {AUTH, "Content-Type: application/json", NULL};
        struct take_arg ta[2] = {{f, a_h, path, 0, &bar}, {f, b_h, path, 0, &bar}};
        snprintf(path, sizeof path, "/api/inbox/%lld/take", (long long)id1);
        pthread_barrier_init(&bar, NULL, 2);
        for (int i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, take_thread, &ta[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&bar);
        assert_true((ta[0].status == 200 && ta[1].status == 409) || (ta[0].status == 409 && ta[1].status == 200));
        memcpy(win_h, ta[0].status == 200 ? (const char *[]){AUTH, "Content-Type: application/json", NULL}
                                          : (const char *[]){bhdr, "Content-Type: application/json", NULL},
               sizeof win_h);
        memcpy(lose_h, ta[0].status == 200 ? (const char *[]){bhdr, "Content-Type: application/json", NULL}
                                           : (const char *[]){AUTH, "Content-Type: application/json", NULL},
               sizeof lose_h);
        expect(f, "POST", path, lose_h, "{}", 409, "is taken by", NULL);
    }
    assert_true(sse_wait(&cust, "id: 3\nevent: state", 5000));
    assert_true(sse_wait(&cust, "\"text\":\"taken\"", 5000));

    /* the holder's reply reaches the customer live; the other agent's is refused and not stored */
    snprintf(path, sizeof path, "/api/inbox/%lld/messages", (long long)id1);
    expect(f, "POST", path, win_h, "{\"text\":\"Sorry to hear that. Which model?\"}", 200, "\"seq\":4", NULL);
    assert_true(sse_wait(&cust, "id: 4\nevent: message", 5000));
    assert_true(sse_wait(&cust, "Which model?", 5000));
    expect(f, "POST", path, lose_h, "{\"text\":\"not mine\"}", 403, NULL, NULL);
    expect(f, "POST", path, win_h, "{\"text\":\"\"}", 400, "empty", NULL);

    /* the bot stays silent while a person holds the conversation */
    snprintf(body, sizeof body, "{\"question\":\"hello?\",\"channel\":\"widget\",\"conversation_secret\":\"%s\"}",
             secret);
    expect(f, "POST", "/api/ask", public_h, body, 409, "a person is answering", NULL);

    /* a dropped stream resumes after Last-Event-ID: the next event, no repeat */
    sse_close(&cust);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"text\":\"KX-200\"}", tok1);
    expect(f, "POST", "/api/handoff/messages", public_h, body, 200, "\"seq\":5", NULL);
    snprintf(path, sizeof path, "/api/handoff/stream?token=%s", tok1);
    sse_open(&cust2, f->port, path, "Last-Event-ID: 4");
    assert_true(sse_wait(&cust2, "id: 5\nevent: message", 5000));
    assert_true(sse_wait(&cust2, "KX-200", 5000));
    assert_null(strstr(cust2.buf, "id: 4\n"));
    assert_null(strstr(cust2.buf, "id: 3\n"));
    sse_close(&cust2);

    /* the agent's view: the bot's answer with its citations, then every event */
    snprintf(path, sizeof path, "/api/inbox/%lld", (long long)id1);
    call(f, "GET", path, win_h, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"question\":\"Can I talk to a human\""));
    assert_non_null(strstr(r.body, "\"citations\":["));
    assert_non_null(strstr(r.body, "\"from_bot\":true"));
    assert_int_equal(count(r.body, "\"seq\":"), 5);
    assert_null(strstr(r.body, "sneaky"));
    assert_null(strstr(r.body, "not mine"));
    http_resp_free(&r);

    /* the customer's reload: the whole conversation by token; a bad token is 401 */
    snprintf(path, sizeof path, "/api/handoff/conversation?token=%s", tok1);
    call(f, "GET", path, NULL, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"state\":\"taken\""));
    assert_int_equal(count(r.body, "\"seq\":"), 5);
    http_resp_free(&r);
    expect(f, "GET", "/api/handoff/conversation?token=0123456789abcdef0123456789abcdef", NULL, NULL, 404,
           "unknown conversation token", NULL);
    expect(f, "GET", "/api/handoff/conversation?token=nope", NULL, NULL, 400, "32-character", NULL);
    expect(f, "GET", "/api/handoff/stream?token=nope", NULL, NULL, 400, "32-character", NULL);
    expect(f, "POST", "/api/handoff/messages", public_h, "{\"text\":\"hi\"}", 400, "32-character", NULL);

    /* restart: the queue and the held conversation survive */
    sse_close(&inbox);
    webfix_stop(f);
    webfix_start(f, 4);
    call(f, "GET", "/api/inbox", admin, NULL, 200, &r);
    assert_int_equal(json_int(r.body, "agents_online"), 0);
    assert_non_null(strstr(r.body, "\"state\":\"taken\""));
    assert_non_null(strstr(r.body, "\"state\":\"queued\""));
    http_resp_free(&r);
    snprintf(path, sizeof path, "/api/handoff/conversation?token=%s", tok2);
    expect(f, "GET", path, NULL, NULL, 200, "\"position\":1", "\"state\":\"queued\"");

    /* a queued customer waiting past handoff.wait_seconds (2 s here) is offered the form */
    snprintf(path, sizeof path, "/api/handoff/stream?token=%s", tok2);
    sse_open(&waiting, f->port, path, NULL);
    assert_true(sse_wait(&waiting, "event: timeout", 8000));
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"name\":\"Ann\",\"message\":\"call me\"}", tok2);
    expect(f, "POST", "/api/handoff/ticket", public_h, body, 400, "email or a phone", NULL);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"name\":\"Ann\",\"email\":\"ann@\",\"message\":\"x\"}", tok2);
    expect(f, "POST", "/api/handoff/ticket", public_h, body, 400, "not an email", NULL);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"name\":\"Ann\",\"phone\":\"12ab\",\"message\":\"x\"}", tok2);
    expect(f, "POST", "/api/handoff/ticket", public_h, body, 400, "phone", NULL);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"name\":\"Ann\",\"phone\":\"+86 138 0000 0000\",\"message\":\"call me\"}",
             tok2);
    expect(f, "POST", "/api/handoff/ticket", public_h, body, 200, "\"kind\":\"ticket\"", NULL);
    assert_true(sse_wait(&waiting, "\"text\":\"ticket\"", 5000));
    sse_close(&waiting);
    expect(f, "POST", "/api/handoff/ticket", public_h, body, 409, NULL, NULL); /* already a ticket */
    snprintf(path, sizeof path, "/api/inbox/%lld/take", (long long)id2);
    expect(f, "POST", path, admin, "{}", 409, NULL, NULL); /* a ticket is not a live chat */
    call(f, "GET", "/api/inbox", admin, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"contact\":\"+86 138 0000 0000\""));
    http_resp_free(&r);
    snprintf(path, sizeof path, "/api/inbox/%lld/close", (long long)id2);
    expect(f, "POST", path, admin, "{}", 200, NULL, NULL);

    /* close by the customer, then rate once */
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"rating\":5}", tok1);
    snprintf(path, sizeof path, "{\"token\":\"%s\"}", tok1);
    expect(f, "POST", "/api/handoff/close", public_h, path, 200, NULL, NULL);
    expect(f, "POST", "/api/handoff/close", public_h, path, 409, "closed", NULL);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"rating\":6}", tok1);
    expect(f, "POST", "/api/handoff/rate", public_h, body, 400, "1 to 5", NULL);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"rating\":5}", tok1);
    expect(f, "POST", "/api/handoff/rate", public_h, body, 200, NULL, NULL);
    expect(f, "POST", "/api/handoff/rate", public_h, body, 409, NULL, NULL);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"text\":\"still there?\"}", tok1);
    expect(f, "POST", "/api/handoff/messages", public_h, body, 403, "not open", NULL);
    snprintf(path, sizeof path, "/api/inbox/%lld/messages", (long long)id1);
    expect(f, "POST", path, win_h, "{\"text\":\"bye\"}", 403, NULL, NULL);
    snprintf(path, sizeof path, "/api/inbox/%lld", (long long)id1);
    expect(f, "GET", path, admin, NULL, 200, "\"rating\":5", "\"closed_by\":\"customer\"");
    /* a stream of a closed conversation sends what is left and ends (http_req reads to the close) */
    snprintf(path, sizeof path, "/api/handoff/stream?token=%s&last_event_id=5", tok1);
    expect(f, "GET", path, NULL, NULL, 200, "\"text\":\"closed\"", "\"text\":\"rated:5\"");
    expect(f, "GET", "/api/inbox/99999", admin, NULL, 404, NULL, NULL);
    /* once closed, the bot answers this conversation again */
    snprintf(body, sizeof body, "{\"question\":\"hello?\",\"channel\":\"widget\",\"conversation_secret\":\"%s\"}",
             secret);
    expect(f, "POST", "/api/ask", public_h, body, 200, NULL, NULL);

    /* a fresh ticket without a chat */
    expect(f, "POST", "/api/handoff/ticket", public_h,
           "{\"name\":\"Bo\",\"email\":\"bo@example.com\",\"message\":\"please call back\"}", 200, "\"token\":\"",
           "\"kind\":\"ticket\"");
    /* the take is in the audit log */
    expect(f, "GET", "/api/audit", admin, NULL, 200, "\"action\":\"handoff.take\"", "\"target\":\"handoff:1\"");
    /* the Dashboard's handed-off count: two chats (one became a ticket) and one ticket */
    expect(f, "GET", "/api/stats", admin, NULL, 200, "\"handed_off\":3", NULL);
    webfix_free(f);
}

static void test_out_of_hours(void **state)
{
    time_t now = time(NULL);
    struct tm tm;
    struct webfix *f;
    struct sse inbox;
    (void)state;
    gmtime_r(&now, &tm);
    /* a range that does not hold the current UTC hour (nor the next, for a run at hh:59) */
    f = fixture_new(tm.tm_hour < 10 ? "Mon-Sun 12:00-23:00" : "Mon-Sun 01:00-09:00");
    sse_open(&inbox, f->port, "/api/inbox/stream", AUTH);
    assert_true(sse_wait(&inbox, "event: inbox", 5000));
    expect(f, "GET", "/api/handoff/status", NULL, NULL, 200, "\"reason\":\"hours\"", "\"agents_online\":1");
    expect(f, "POST", "/api/handoff", public_h, "{}", 409, "outside business hours", NULL);
    expect(f, "POST", "/api/handoff/ticket", public_h,
           "{\"name\":\"张三\",\"phone\":\"13800000000\",\"message\":\"我要转人工\"}", 200, "\"kind\":\"ticket\"", NULL);
    assert_true(sse_wait(&inbox, "\"name\":\"张三\"", 5000));
    /* a bad value is refused when set at run time, and at open */
    expect(f, "PUT", "/api/settings", admin, "{\"handoff.hours\":\"Mon-Fri 9-18\"}", 400, "handoff.hours", NULL);
    expect(f, "PUT", "/api/settings", admin, "{\"handoff.timezone\":\"Asia/Nowhere\"}", 400, "handoff.timezone",
           "Asia/Nowhere");
    expect(f, "PUT", "/api/settings", admin, "{\"handoff.timezone\":\"../../etc/passwd\"}", 400, "handoff.timezone",
           NULL);
    expect(f, "PUT", "/api/settings", admin, "{\"handoff.timezone\":\"Asia/Shanghai\"}", 200, NULL, NULL);
    expect(f, "PUT", "/api/settings", admin, "{\"handoff.timezone\":\"+08:00\"}", 200, NULL, NULL);
    sse_close(&inbox);
    webfix_stop(f);
    {
        struct kb_error err = {0};
        struct rag *r = NULL;
        webfix_set(f, "handoff.hours", "Mon-Fri 18:00-09:00");
        assert_int_equal(rag_open(&r, &f->cfg, &err), KB_ECONFIG);
        assert_non_null(strstr(err.msg, "handoff.hours"));
        assert_null(r);
        webfix_set(f, "handoff.hours", "");
        webfix_start(f, 4); /* fixture_free stops it */
    }
    webfix_free(f);
}

/* ---- notifications: a webhook receiver and an SMTP sink on 127.0.0.1 ---------------------------------- */

struct sink {
    int lfd, port;
    pthread_t th;
    pthread_mutex_t mu;
    bool smtp;               /* speaks SMTP, else HTTP */
    int status;              /* HTTP: the answer's status; 0 = hold the connection until release */
    bool release, stop;
    int n_got, n_holding;
    char got[16][4096];      /* bodies (HTTP) or DATA plus envelope (SMTP), in order */
};

static int sink_listen(struct sink *k)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    int one = 1;
    k->lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(k->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(k->lfd, (struct sockaddr *)&a, sizeof a) || listen(k->lfd, 16) ||
        getsockname(k->lfd, (struct sockaddr *)&a, &n))
        return -1;
    k->port = ntohs(a.sin_port);
    return 0;
}

/* Reads into buf until needle (or 4095 bytes / EOF / 5 s); returns bytes. */
static size_t read_until(int fd, char *buf, size_t cap, size_t have, const char *needle)
{
    double end = kb_now_s() + 5;
    buf[have] = '\0';
    while (!strstr(buf, needle) && have + 1 < cap && kb_now_s() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t got;
        if (poll(&p, 1, 100) <= 0)
            continue;
        if ((got = recv(fd, buf + have, cap - 1 - have, 0)) <= 0)
            break;
        have += (size_t)got;
        buf[have] = '\0';
    }
    return have;
}

static void sink_store(struct sink *k, const char *text)
{
    pthread_mutex_lock(&k->mu);
    if (k->n_got < 16)
        snprintf(k->got[k->n_got++], sizeof k->got[0], "%s", text);
    pthread_mutex_unlock(&k->mu);
}

static void sink_http(struct sink *k, int fd)
{
    char buf[8192];
    size_t n = read_until(fd, buf, sizeof buf, 0, "\r\n\r\n");
    const char *cl = strstr(buf, "Content-Length:"), *body = strstr(buf, "\r\n\r\n");
    long len = cl ? strtol(cl + 15, NULL, 10) : 0;
    int status;
    char resp[128];
    if (!body)
        return;
    body += 4;
    while ((long)(n - (size_t)(body - buf)) < len) {
        size_t before = n;
        n = read_until(fd, buf, sizeof buf, n, "\x01"); /* until the body is complete */
        if (n == before)
            break;
    }
    sink_store(k, body);
    pthread_mutex_lock(&k->mu);
    status = k->status;
    if (!status) { /* hold the connection: a hanging target */
        k->n_holding++;
        while (!k->release && !k->stop) {
            pthread_mutex_unlock(&k->mu);
            usleep(20 * 1000);
            pthread_mutex_lock(&k->mu);
        }
        k->n_holding--;
        status = 500;
    }
    pthread_mutex_unlock(&k->mu);
    n = (size_t)snprintf(resp, sizeof resp, "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", status);
    (void)!send(fd, resp, n, MSG_NOSIGNAL);
}

static void say(int fd, const char *line)
{
    (void)!send(fd, line, strlen(line), MSG_NOSIGNAL);
}

static void sink_smtp(struct sink *k, int fd)
{
    char buf[8192], env[1024] = "";
    size_t n = 0;
    say(fd, "220 sink ESMTP\r\n");
    for (;;) {
        char *eol;
        n = read_until(fd, buf, sizeof buf, n, "\r\n");
        if (!(eol = strstr(buf, "\r\n")))
            return;
        *eol = '\0';
        if (!strncasecmp(buf, "EHLO", 4) || !strncasecmp(buf, "HELO", 4)) {
            say(fd, "250 sink\r\n");
        } else if (!strncasecmp(buf, "MAIL FROM", 9) || !strncasecmp(buf, "RCPT TO", 7)) {
            strncat(env, buf, sizeof env - strlen(env) - 2);
            strncat(env, "\n", sizeof env - strlen(env) - 1);
            say(fd, "250 OK\r\n");
        } else if (!strncasecmp(buf, "DATA", 4)) {
            size_t rest = n - (size_t)(eol + 2 - buf), m;
            char data[8192];
            memmove(data, eol + 2, rest);
            say(fd, "354 go on\r\n");
            m = read_until(fd, data, sizeof data, rest, "\r\n.\r\n");
            data[m] = '\0';
            {
                char all[4096];
                snprintf(all, sizeof all, "%s%s", env, data);
                sink_store(k, all);
            }
            say(fd, "250 queued\r\n");
            n = 0;
            continue;
        } else if (!strncasecmp(buf, "QUIT", 4)) {
            say(fd, "221 bye\r\n");
            return;
        } else {
            say(fd, "250 OK\r\n");
        }
        { /* drop the line handled */
            size_t used = (size_t)(eol + 2 - buf);
            memmove(buf, buf + used, n - used);
            n -= used;
            buf[n] = '\0';
        }
    }
}

static void *sink_main(void *p)
{
    struct sink *k = p;
    for (;;) {
        struct pollfd pf = {.fd = k->lfd, .events = POLLIN};
        int fd;
        bool stop;
        pthread_mutex_lock(&k->mu);
        stop = k->stop;
        pthread_mutex_unlock(&k->mu);
        if (stop)
            break;
        if (poll(&pf, 1, 50) <= 0 || (fd = accept(k->lfd, NULL, NULL)) < 0)
            continue;
        if (k->smtp)
            sink_smtp(k, fd);
        else
            sink_http(k, fd);
        close(fd);
    }
    return NULL;
}

static void sink_start(struct sink *k, bool smtp)
{
    memset(k, 0, sizeof *k);
    k->smtp = smtp;
    k->status = 200;
    pthread_mutex_init(&k->mu, NULL);
    assert_int_equal(sink_listen(k), 0);
    assert_int_equal(pthread_create(&k->th, NULL, sink_main, k), 0);
}

static void sink_stop(struct sink *k)
{
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->th, NULL);
    close(k->lfd);
    pthread_mutex_destroy(&k->mu);
}

/* Waits for the sink's i-th delivery; returns a copy in out. */
static void sink_wait(struct sink *k, int i, char *out, size_t n)
{
    double end = kb_now_s() + 15;
    for (;;) {
        bool have;
        pthread_mutex_lock(&k->mu);
        have = k->n_got > i;
        if (have)
            snprintf(out, n, "%s", k->got[i]);
        pthread_mutex_unlock(&k->mu);
        if (have)
            return;
        if (kb_now_s() > end)
            fail_msg("sink (%s) got no delivery #%d", k->smtp ? "smtp" : "http", i);
        usleep(20 * 1000);
    }
}

static char log_text[1 << 16];
static size_t log_len;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void log_capture(enum kb_log_level level, const char *msg, void *ud)
{
    (void)level, (void)ud;
    pthread_mutex_lock(&log_mu);
    log_len += (size_t)snprintf(log_text + log_len, sizeof log_text - log_len, "%s\n", msg);
    if (log_len >= sizeof log_text)
        log_len = sizeof log_text - 1;
    pthread_mutex_unlock(&log_mu);
}

static void test_notify(void **state)
{
    struct sink hook, mail;
    struct webfix *f;
    char url[256], v[64], got[4096], body[512];
    static const struct {
        const char *format, *want1, *want2;
    } shapes[] = {
        {"wecom", "{\"msgtype\":\"text\",\"text\":{\"content\":\"kbox: new ticket #", NULL},
        {"dingtalk", "{\"msgtype\":\"text\",\"text\":{\"content\":\"kbox: new ticket #", NULL},
        {"feishu", "{\"msg_type\":\"text\",\"content\":{\"text\":\"kbox: new ticket #", NULL},
        {"slack", "{\"text\":\"kbox: new ticket #", NULL},
    };
    struct http_resp r;
    (void)state;
    sink_start(&hook, false);
    sink_start(&mail, true);
    kb_log_set_sink(log_capture, NULL);
    f = webfix_new("handoff");
    webfix_set(f, "server.admin_token", TOKEN);
    webfix_set(f, "server.rate_limit_per_min", "0");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/robot/send?key=SECRET-ROBOT-KEY-42", hook.port);
    webfix_set(f, "handoff.webhook_url", url);
    webfix_set(f, "handoff.smtp_host", "127.0.0.1");
    snprintf(v, sizeof v, "%d", mail.port);
    webfix_set(f, "handoff.smtp_port", v);
    webfix_set(f, "handoff.smtp_starttls", "false");
    webfix_set(f, "handoff.smtp_from", "kbox@example.com");
    webfix_set(f, "handoff.smtp_to", "desk@example.com, boss@example.com");
    webfix_set(f, "handoff.notify_retries", "1");
    webfix_set(f, "handoff.notify_timeout_s", "2");
    webfix_start(f, 4);

    /* a ticket: the generic JSON and an e-mail to both recipients */
    expect(f, "POST", "/api/handoff/ticket", public_h,
           "{\"name\":\"Ann\",\"email\":\"ann@example.com\",\"message\":\"my kettle leaks\"}", 200, NULL, NULL);
    sink_wait(&hook, 0, got, sizeof got);
    if (!strstr(got, "\"event\":\"ticket\"") || !strstr(got, "\"name\":\"Ann\"") ||
        !strstr(got, "\"contact\":\"ann@example.com\"") || !strstr(got, "\"message\":\"my kettle leaks\"") ||
        !strstr(got, "\"text\":\"kbox: new ticket #1 from Ann"))
        fail_msg("generic webhook body: %s", got);
    sink_wait(&mail, 0, got, sizeof got);
    if (!strstr(got, "MAIL FROM:<kbox@example.com>") || !strstr(got, "RCPT TO:<desk@example.com>") ||
        !strstr(got, "RCPT TO:<boss@example.com>") || !strstr(got, "Subject: kbox: new ticket") ||
        !strstr(got, "my kettle leaks"))
        fail_msg("smtp delivery: %s", got);

    /* the robots' shapes, switched at run time */
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        snprintf(body, sizeof body, "{\"handoff.webhook_format\":\"%s\"}", shapes[i].format);
        expect(f, "PUT", "/api/settings", admin, body, 200, NULL, NULL);
        expect(f, "POST", "/api/handoff/ticket", public_h, "{\"name\":\"Bo\",\"phone\":\"1234567\",\"message\":\"hi\"}",
               200, NULL, NULL);
        sink_wait(&hook, (int)i + 1, got, sizeof got);
        if (!strstr(got, shapes[i].want1) || strstr(got, "\"event\""))
            fail_msg("%s body: %s", shapes[i].format, got);
    }
    expect(f, "PUT", "/api/settings", admin, "{\"handoff.webhook_format\":\"teams\"}", 400, "handoff.webhook_format", NULL);

    /* a hanging target does not block the customer; then it fails, is retried, and is marked failed */
    pthread_mutex_lock(&hook.mu);
    hook.status = 0;
    pthread_mutex_unlock(&hook.mu);
    expect(f, "POST", "/api/handoff/ticket", public_h, "{\"name\":\"Cy\",\"phone\":\"7654321\",\"message\":\"hello\"}",
           200, NULL, NULL);
    {
        double end = kb_now_s() + 10;
        int holding = 0;
        while (kb_now_s() < end && !holding) {
            pthread_mutex_lock(&hook.mu);
            holding = hook.n_holding;
            pthread_mutex_unlock(&hook.mu);
            usleep(20 * 1000);
        }
        assert_int_equal(holding, 1); /* the ticket was answered while its webhook still hangs */
    }
    {
        double end = kb_now_s() + 20;
        bool failed = false;
        while (kb_now_s() < end && !failed) {
            call(f, "GET", "/api/inbox", admin, NULL, 200, &r);
            failed = strstr(r.body, "\"channel\":\"webhook\",\"attempts\":2") != NULL;
            if (failed && (!strstr(r.body, "webhook 127.0.0.1:") || strstr(r.body, "SECRET-ROBOT-KEY")))
                fail_msg("failure entry: %s", r.body);
            http_resp_free(&r);
            if (!failed)
                usleep(200 * 1000);
        }
        assert_true(failed);
    }
    pthread_mutex_lock(&hook.mu);
    hook.release = true;
    pthread_mutex_unlock(&hook.mu);
    webfix_stop(f);
    kb_log_set_sink(NULL, NULL);
    log_text[log_len] = '\0';
    assert_non_null(strstr(log_text, "giving up"));
    assert_null(strstr(log_text, "SECRET-ROBOT-KEY"));
    webfix_start(f, 4);
    webfix_free(f);
    sink_stop(&hook);
    sink_stop(&mail);
}

/* ---- a bot's own handoff settings (issue #16 item 3, #17 item 1) -------------------------------------- */

/* Asks as bot (NULL: none) in conversation secret_in (NULL: a new one); want_offer as in ask(). */
static void ask_bot(struct webfix *f, const char *bot, const char *question, const char *secret_in, char secret[33],
                    int64_t *mid, const char *want_offer)
{
    char body[512];
    struct http_resp r;
    snprintf(body, sizeof body, "{\"question\":\"%s\",\"channel\":\"widget\"%s%s%s%s%s%s}", question,
             secret_in ? ",\"conversation_secret\":\"" : "", secret_in ? secret_in : "", secret_in ? "\"" : "",
             bot ? ",\"bot\":\"" : "", bot ? bot : "", bot ? "\"" : "");
    call(f, "POST", "/api/ask", public_h, body, 200, &r);
    json_str(r.body, "conversation_secret", secret, 33);
    *mid = json_int(r.body, "message_id");
    if (want_offer) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"handoff_offer\":\"%s\"", want_offer);
        if (!strstr(r.body, pat))
            fail_msg("ask '%s' as %s: no %s in %s", question, bot ? bot : "-", pat, r.body);
    } else if (strstr(r.body, "handoff_offer")) {
        fail_msg("ask '%s' as %s: unexpected offer in %s", question, bot ? bot : "-", r.body);
    }
    http_resp_free(&r);
}

/* A thumbs-down on message mid, naming bot (NULL: none); whether the reply offers a person. */
static bool thumbs_down_offers(struct webfix *f, const char *bot, const char *secret, int64_t mid)
{
    char body[256];
    struct http_resp r;
    bool offer;
    snprintf(body, sizeof body, "{\"message_id\":%lld,\"secret\":\"%s\",\"vote\":-1%s%s%s}", (long long)mid, secret,
             bot ? ",\"bot\":\"" : "", bot ? bot : "", bot ? "\"" : "");
    call(f, "POST", "/api/feedback", public_h, body, 200, &r);
    offer = strstr(r.body, "\"handoff_offer\":\"thumbs_down\"") != NULL;
    http_resp_free(&r);
    return offer;
}

static void test_bot_handoff(void **state)
{
    struct webfix *f = fixture_new(NULL);
    char secret[33], secret2[33];
    int64_t mid;
    struct sse inbox;
    (void)state;

    /* bad settings are named and nothing is stored */
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"x\",\"handoff\":\"maybe\"}", 400, "bot handoff must be", NULL);
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"x\",\"handoff_after_fallbacks\":101}", 400,
           "handoff_after_fallbacks must be 0 to 100", NULL);
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"x\",\"handoff_on_thumbs_down\":3}", 400,
           "handoff_on_thumbs_down must be", NULL);
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"x\",\"handoff_keywords\":\"a\\nb\"}", 400, "control character", NULL);
    expect(f, "GET", "/api/bots/x", admin, NULL, 404, NULL, NULL);

    /* "quiet" never hands off; "shop" has its own keyword, one fallback suffices, no thumbs-down offer */
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"quiet\",\"handoff\":false}", 201, "\"handoff\":false", NULL);
    expect(f, "POST", "/api/bots", admin,
           "{\"id\":\"shop\",\"handoff_keywords\":\"store manager\",\"handoff_after_fallbacks\":1,"
           "\"handoff_on_thumbs_down\":false}",
           201, "\"handoff_keywords\":\"store manager\",\"handoff_after_fallbacks\":1", NULL);
    expect(f, "GET", "/api/bots/shop", admin, NULL, 200, "\"handoff\":\"inherit\"",
           "\"effective_handoff\":{\"enabled\":true,\"keywords\":\"store manager\",\"after_fallbacks\":1,"
           "\"on_thumbs_down\":false}");
    expect(f, "GET", "/api/bots/default", admin, NULL, 200, "\"handoff_after_fallbacks\":\"inherit\"",
           "\"after_fallbacks\":2");
    /* an update naming other members keeps the handoff settings */
    expect(f, "PUT", "/api/bots/shop", admin, "{\"id\":\"shop\",\"greeting\":\"Hi\"}", 200,
           "\"handoff_keywords\":\"store manager\"", "\"handoff_on_thumbs_down\":false");

    /* an agent is online, so live chat is open for the global settings */
    sse_open(&inbox, f->port, "/api/inbox/stream", AUTH);
    assert_true(sse_wait(&inbox, "event: inbox", 5000));
    expect(f, "GET", "/api/handoff/status", NULL, NULL, 200, "\"enabled\":true", "\"live\":true");

    /* quiet: the global keyword, a fallback streak and a thumbs-down offer nothing; the button is refused */
    ask_bot(f, NULL, "Can I talk to a human", NULL, secret, &mid, "keyword");
    ask_bot(f, "quiet", "Can I talk to a human", NULL, secret, &mid, NULL);
    usleep(200 * 1000); /* the log's writer commits within 25 ms */
    ask_bot(f, "quiet", "what about a human then", secret, secret, &mid, NULL);
    assert_false(thumbs_down_offers(f, "quiet", secret, mid));
    assert_true(thumbs_down_offers(f, NULL, secret, mid));
    expect(f, "GET", "/api/handoff/status?bot=quiet", NULL, NULL, 200, "\"enabled\":false", "\"reason\":\"disabled\"");
    expect(f, "POST", "/api/handoff", public_h, "{\"bot\":\"quiet\"}", 403, "off for bot 'quiet'", NULL);
    expect(f, "POST", "/api/handoff/ticket", public_h,
           "{\"bot\":\"quiet\",\"name\":\"Ann\",\"email\":\"ann@example.com\",\"message\":\"help\"}", 403,
           "off for bot 'quiet'", NULL);
    expect(f, "GET", "/api/inbox", admin, NULL, 200, "\"open\":[]", NULL);

    /* shop: its own keyword triggers where the global list does not; its list replaces the global one,
     * so "human" is no keyword there, but its one-fallback rule offers a person */
    ask_bot(f, NULL, "may I see the store manager", NULL, secret2, &mid, NULL);
    ask_bot(f, "shop", "may I see the store manager", NULL, secret2, &mid, "keyword");
    ask_bot(f, "shop", "Can I talk to a human", NULL, secret2, &mid, "fallbacks");
    assert_false(thumbs_down_offers(f, "shop", secret2, mid));
    expect(f, "GET", "/api/handoff/status?bot=shop", NULL, NULL, 200, "\"enabled\":true", "\"live\":true");
    expect(f, "POST", "/api/handoff", public_h, "{\"bot\":\"shop\",\"trigger\":\"keyword\"}", 200, "\"position\":1", NULL);

    /* an unknown bot in a vote is named, not ignored */
    {
        char body[256];
        snprintf(body, sizeof body, "{\"message_id\":%lld,\"secret\":\"%s\",\"vote\":-1,\"bot\":\"nope\"}",
                 (long long)mid, secret2);
        expect(f, "POST", "/api/feedback", public_h, body, 404, "nope", NULL);
    }

    /* back to inherit: quiet follows handoff.enabled again */
    expect(f, "PUT", "/api/bots/quiet", admin, "{\"id\":\"quiet\",\"handoff\":\"inherit\"}", 200, "\"handoff\":\"inherit\"",
           NULL);
    expect(f, "GET", "/api/handoff/status?bot=quiet", NULL, NULL, 200, "\"enabled\":true", NULL);
    sse_close(&inbox);
    webfix_free(f);
}

/* A question over collection coll (by name); the offer wanted (NULL: none). The message id into *mid. */
static void ask_coll(struct webfix *f, const char *coll, const char *question, char secret[33], int64_t *mid,
                     const char *want_offer)
{
    char body[512];
    struct http_resp r;
    snprintf(body, sizeof body, "{\"question\":\"%s\",\"channel\":\"widget\",\"collection\":\"%s\"}", question, coll);
    call(f, "POST", "/api/ask", public_h, body, 200, &r);
    json_str(r.body, "conversation_secret", secret, 33);
    *mid = json_int(r.body, "message_id");
    if (want_offer) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"handoff_offer\":\"%s\"", want_offer);
        if (!strstr(r.body, pat))
            fail_msg("ask '%s' over %s: no %s in %s", question, coll, pat, r.body);
    } else if (strstr(r.body, "handoff_offer")) {
        fail_msg("ask '%s' over %s: unexpected offer in %s", question, coll, r.body);
    }
    http_resp_free(&r);
}

static void test_coll_handoff(void **state)
{
    struct webfix *f = fixture_new(NULL);
    char secret[33], path[64], path_shop[64];
    int64_t mid, hr, shop;
    struct http_resp r;
    struct sse inbox;
    (void)state;

    call(f, "POST", "/api/collections", admin, "{\"name\":\"hr\"}", 201, &r);
    hr = json_int(r.body, "id");
    http_resp_free(&r);
    call(f, "POST", "/api/collections", admin, "{\"name\":\"shop\"}", 201, &r);
    shop = json_int(r.body, "id");
    http_resp_free(&r);
    snprintf(path, sizeof path, "/api/collections/%lld/handoff", (long long)hr);
    snprintf(path_shop, sizeof path_shop, "/api/collections/%lld/handoff", (long long)shop);

    /* every setting inherits at first; bad input is named and changes nothing; unknown collection 404 */
    expect(f, "GET", path, admin, NULL, 200, "\"handoff\":\"inherit\",\"handoff_keywords\":\"inherit\"",
           "\"effective_handoff\":{\"enabled\":true");
    expect(f, "GET", "/api/collections/9999/handoff", admin, NULL, 404, "no collection with id 9999", NULL);
    expect(f, "PUT", "/api/collections/9999/handoff", admin, "{\"handoff\":false}", 404, "no collection", NULL);
    expect(f, "PUT", path, admin, "{\"handoff\":\"maybe\"}", 400, "collection handoff must be", NULL);
    expect(f, "PUT", path, admin, "{\"handoff_after_fallbacks\":101}", 400, "handoff_after_fallbacks must be 0 to 100",
           NULL);
    expect(f, "PUT", path, admin, "{\"handoff_after_fallbacks\":-1}", 400, "handoff_after_fallbacks", NULL);
    expect(f, "PUT", path, admin, "{\"handoff_on_thumbs_down\":3}", 400, "handoff_on_thumbs_down must be", NULL);
    expect(f, "PUT", path, admin, "{\"handoff_keywords\":\"a\\nb\"}", 400, "control character", NULL);
    expect(f, "PUT", path, admin, "{\"handoff_keywords\":[\"a\"]}", 400, "handoff_keywords must be", NULL);
    expect(f, "PUT", path, admin, "not json", 400, NULL, NULL);
    expect(f, "GET", path, admin, NULL, 200, "\"handoff\":\"inherit\",\"handoff_keywords\":\"inherit\"", NULL);
    expect(f, "GET", path, NULL, NULL, 401, NULL, NULL); /* staff only */

    /* hr: the keyword trigger, the fallback streak and thumbs-down off; shop: one fallback suffices */
    expect(f, "PUT", path, admin,
           "{\"handoff_keywords\":false,\"handoff_after_fallbacks\":0,\"handoff_on_thumbs_down\":false}", 200,
           "\"handoff_keywords\":false,\"handoff_after_fallbacks\":0,\"handoff_on_thumbs_down\":false",
           "\"keywords_on\":false");
    expect(f, "PUT", path_shop, admin, "{\"handoff_after_fallbacks\":1}", 200, "\"handoff_after_fallbacks\":1",
           "\"handoff_keywords\":\"inherit\"");
    /* a PUT naming one member keeps the others */
    expect(f, "PUT", path, admin, "{\"handoff\":true}", 200, "\"handoff\":true,\"handoff_keywords\":false", NULL);

    ask_coll(f, "hr", "Can I talk to a human", secret, &mid, NULL);
    ask_coll(f, "shop", "Can I talk to a human", secret, &mid, "keyword");
    ask_coll(f, "default", "what does the warranty cover", secret, &mid, NULL); /* handoff.after_fallbacks 2 */
    ask_coll(f, "shop", "what does the warranty cover", secret, &mid, "fallbacks");
    usleep(200 * 1000); /* the log's writer commits within 25 ms */
    assert_true(thumbs_down_offers(f, NULL, secret, mid)); /* shop's message: the global thumbs-down */
    ask_coll(f, "hr", "what does the warranty cover", secret, &mid, NULL);
    usleep(200 * 1000);
    assert_false(thumbs_down_offers(f, NULL, secret, mid)); /* hr's message: off */

    /* bots: the bot's own setting beats the collection's; a bot over hr alone follows hr; over hr and
     * shop the off of hr wins */
    expect(f, "POST", "/api/bots", admin,
           "{\"id\":\"hrbot\",\"collections\":[\"hr\"],\"handoff_keywords\":\"human\",\"handoff_on_thumbs_down\":true}",
           201, NULL, NULL);
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"hrplain\",\"collections\":[\"hr\"]}", 201, NULL, NULL);
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"both\",\"collections\":[\"hr\",\"shop\"]}", 201, NULL, NULL);
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"shopbot\",\"collections\":[\"shop\"]}", 201, NULL, NULL);
    ask_bot(f, "hrbot", "Can I talk to a human", NULL, secret, &mid, "keyword");
    usleep(200 * 1000);
    assert_true(thumbs_down_offers(f, "hrbot", secret, mid));
    ask_bot(f, "hrplain", "Can I talk to a human", NULL, secret, &mid, NULL);
    usleep(200 * 1000);
    assert_false(thumbs_down_offers(f, "hrplain", secret, mid));
    ask_bot(f, "both", "Can I talk to a human", NULL, secret, &mid, NULL);
    ask_bot(f, "shopbot", "Can I talk to a human", NULL, secret, &mid, "keyword");

    /* handoff off for shop: its bot's status is disabled and a request 403 names the collection */
    sse_open(&inbox, f->port, "/api/inbox/stream", AUTH);
    assert_true(sse_wait(&inbox, "event: inbox", 5000));
    expect(f, "GET", "/api/handoff/status?bot=shopbot", NULL, NULL, 200, "\"enabled\":true", "\"live\":true");
    expect(f, "PUT", path_shop, admin, "{\"handoff\":false}", 200, "\"enabled\":false", NULL);
    expect(f, "GET", "/api/handoff/status?bot=shopbot", NULL, NULL, 200, "\"enabled\":false", "\"reason\":\"disabled\"");
    expect(f, "POST", "/api/handoff", public_h, "{\"bot\":\"shopbot\"}", 403, "off for a collection of bot 'shopbot'",
           NULL);
    ask_coll(f, "shop", "Can I talk to a human", secret, &mid, NULL);
    expect(f, "GET", "/api/handoff/status", NULL, NULL, 200, "\"enabled\":true", NULL); /* no bot: the global key */
    /* a widget of one collection (data-collection) names it: its status, requests and tickets follow it */
    expect(f, "GET", "/api/handoff/status?collection=shop", NULL, NULL, 200, "\"enabled\":false", "\"reason\":\"disabled\"");
    expect(f, "GET", "/api/handoff/status?collection=hr", NULL, NULL, 200, "\"enabled\":true", "\"live\":true");
    expect(f, "GET", "/api/handoff/status?collection=nope", NULL, NULL, 404, "nope", NULL);
    expect(f, "GET", "/api/handoff/status?collection=shop&bot=shopbot", NULL, NULL, 400, "not both", NULL);
    expect(f, "POST", "/api/handoff", public_h, "{\"collection\":\"shop\"}", 403, "off for this collection", NULL);
    expect(f, "POST", "/api/handoff/ticket", public_h,
           "{\"collection\":\"shop\",\"name\":\"Ann\",\"email\":\"ann@example.com\",\"message\":\"help\"}", 403,
           "off for this collection", NULL);
    expect(f, "GET", "/api/inbox", admin, NULL, 200, "\"open\":[]", NULL); /* nothing was queued */

    /* back to inherit everywhere: hr hands off on "human" again, and the settings survive a restart */
    expect(f, "PUT", path, admin,
           "{\"handoff\":\"inherit\",\"handoff_keywords\":\"inherit\",\"handoff_after_fallbacks\":\"inherit\","
           "\"handoff_on_thumbs_down\":\"inherit\"}",
           200, "\"handoff\":\"inherit\",\"handoff_keywords\":\"inherit\",\"handoff_after_fallbacks\":\"inherit\"", NULL);
    ask_coll(f, "hr", "Can I talk to a human", secret, &mid, "keyword");
    sse_close(&inbox);
    webfix_stop(f);
    webfix_start(f, 4);
    expect(f, "GET", path_shop, admin, NULL, 200, "\"handoff\":false,\"handoff_keywords\":\"inherit\"",
           "\"handoff_after_fallbacks\":1");
    webfix_free(f);
}

/* The server's threads now (Threads: in /proc/self/status; the server runs in this process). */
static int threads_now(void)
{
    char line[256];
    int n = -1;
    FILE *fp = fopen("/proc/self/status", "r");
    assert_non_null(fp);
    while (fgets(line, sizeof line, fp))
        if (!strncmp(line, "Threads:", 8))
            n = (int)strtol(line + 8, NULL, 10);
    fclose(fp);
    return n;
}

#define N_STREAMS 40

/* Event-driven streams: N_STREAMS waiting customers and an Inbox hold no thread each; a take moves
 * every position and each stream gets its new one; a reply reaches its customer; stopping the
 * server with every stream open returns and ends each stream (EOF on its socket). */
static void test_stream_threads(void **state)
{
    struct webfix *f = fixture_new(NULL);
    static struct sse cust[N_STREAMS];
    struct sse inbox;
    char tok[N_STREAMS][33], path[256], want[64];
    int64_t id[N_STREAMS];
    int before, after;
    (void)state;
    sse_open(&inbox, f->port, "/api/inbox/stream", AUTH);
    assert_true(sse_wait(&inbox, "event: inbox", 5000));
    before = threads_now();
    for (int i = 0; i < N_STREAMS; i++) {
        id[i] = request_person(f, NULL, tok[i], i + 1);
        snprintf(path, sizeof path, "/api/handoff/stream?token=%s", tok[i]);
        sse_open(&cust[i], f->port, path, NULL);
    }
    for (int i = 0; i < N_STREAMS; i++) {
        snprintf(want, sizeof want, "data: {\"position\":%d}", i + 1);
        if (!sse_wait(&cust[i], want, 5000))
            fail_msg("stream %d: no position %d in %s", i, i + 1, cust[i].buf);
    }
    after = threads_now();
    /* a thread per stream would add N_STREAMS; the client side here is this one thread */
    if (after - before >= 4)
        fail_msg("threads %d -> %d with %d streams open", before, after, N_STREAMS);

    /* the take moves every waiting position up by one */
    snprintf(path, sizeof path, "/api/inbox/%lld/take", (long long)id[0]);
    expect(f, "POST", path, admin, "{}", 200, NULL, NULL);
    assert_true(sse_wait(&cust[0], "\"text\":\"taken\"", 5000));
    for (int i = 1; i < N_STREAMS; i++) {
        snprintf(want, sizeof want, "data: {\"position\":%d}", i);
        if (!sse_wait(&cust[i], want, 5000))
            fail_msg("stream %d: no position %d after the take", i, i);
    }
    snprintf(path, sizeof path, "/api/inbox/%lld/messages", (long long)id[0]);
    expect(f, "POST", path, admin, "{\"text\":\"hello from the agent\"}", 200, NULL, NULL);
    assert_true(sse_wait(&cust[0], "hello from the agent", 5000));
    assert_int_equal(count(cust[1].buf, "hello from the agent"), 0);

    /* a client that goes away: its stream ends, the others stay */
    sse_close(&cust[N_STREAMS - 1]);

    /* stop with every stream open: it returns, and each stream sees the end */
    webfix_stop(f);
    for (int i = 0; i < N_STREAMS - 1; i++) {
        char tail[256];
        ssize_t got;
        struct pollfd p = {.fd = cust[i].fd, .events = POLLIN};
        do { /* drain what was sent, then EOF (0) */
            got = poll(&p, 1, 5000) == 1 ? recv(cust[i].fd, tail, sizeof tail, 0) : -2;
        } while (got > 0);
        if (got != 0 && !(got < 0 && errno == ECONNRESET))
            fail_msg("stream %d not ended by the stop (%zd)", i, got);
        sse_close(&cust[i]);
    }
    sse_close(&inbox);
    webfix_start(f, 4); /* the queue is still there after the restart */
    expect(f, "GET", "/api/inbox", admin, NULL, 200, "\"state\":\"taken\"", "\"state\":\"queued\"");
    webfix_free(f);
}

/* Per-collection access: an agent limited to the collection "shop" sees and handles the handoffs of
 * the bot over "shop" only; the "hr" bot's and the bot-less ones are left out and 404. */
static void test_coll_agent(void **state)
{
    struct webfix *f = fixture_new(NULL);
    char tok[3][33], body[256], path[256], ahdr[300];
    const char *a_h[] = {ahdr, "Content-Type: application/json", NULL};
    int64_t hr, shop, id_hr, id_shop, id_none;
    struct sse inbox, mine;
    struct http_resp r;
    (void)state;
    call(f, "POST", "/api/collections", admin, "{\"name\":\"hr\"}", 201, &r);
    hr = json_int(r.body, "id");
    http_resp_free(&r);
    call(f, "POST", "/api/collections", admin, "{\"name\":\"shop\"}", 201, &r);
    shop = json_int(r.body, "id");
    http_resp_free(&r);
    assert_true(hr > 0 && shop > 0 && hr != shop);
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"hrbot\",\"collections\":[\"hr\"]}", 201, NULL, NULL);
    expect(f, "POST", "/api/bots", admin, "{\"id\":\"shopbot\",\"collections\":[\"shop\"]}", 201, NULL, NULL);
    snprintf(body, sizeof body,
             "{\"email\":\"s@example.com\",\"role\":\"agent\",\"password\":\"pass-agent\",\"collections\":[%lld]}",
             (long long)shop);
    expect(f, "POST", "/api/users", admin, body, 201, NULL, NULL);
    call(f, "POST", "/api/login", public_h, "{\"email\":\"s@example.com\",\"password\":\"pass-agent\",\"token\":true}",
         200, &r);
    {
        char t[128];
        json_str(r.body, "token", t, sizeof t);
        snprintf(ahdr, sizeof ahdr, "Authorization: Bearer %s", t);
    }
    http_resp_free(&r);

    /* only the shop's agent online: live chat for the shop's customers only */
    sse_open(&mine, f->port, "/api/inbox/stream", ahdr);
    assert_true(sse_wait(&mine, "event: inbox", 5000));
    expect(f, "GET", "/api/handoff/status?bot=shopbot", NULL, NULL, 200, "\"live\":true", "\"agents_online\":1");
    expect(f, "GET", "/api/handoff/status?bot=hrbot", NULL, NULL, 200, "\"reason\":\"offline\"",
           "\"agents_online\":0");
    expect(f, "GET", "/api/handoff/status", NULL, NULL, 200, "\"reason\":\"offline\"", NULL);
    expect(f, "POST", "/api/handoff", public_h, "{\"trigger\":\"button\",\"bot\":\"hrbot\"}", 409, NULL, NULL);
    expect(f, "GET", "/api/inbox", admin, NULL, 200, "\"agents_online\":1", NULL);

    sse_open(&inbox, f->port, "/api/inbox/stream", AUTH); /* an unrestricted agent online too */
    assert_true(sse_wait(&inbox, "event: inbox", 5000));
    expect(f, "GET", "/api/handoff/status?bot=hrbot", NULL, NULL, 200, "\"live\":true", "\"agents_online\":1");
    expect(f, "GET", "/api/handoff/status?bot=shopbot", NULL, NULL, 200, "\"live\":true", "\"agents_online\":2");
    call(f, "POST", "/api/handoff", public_h, "{\"trigger\":\"button\",\"bot\":\"hrbot\"}", 200, &r);
    json_str(r.body, "token", tok[0], 33);
    id_hr = json_int(r.body, "id");
    http_resp_free(&r);
    call(f, "POST", "/api/handoff", public_h, "{\"trigger\":\"button\",\"bot\":\"shopbot\"}", 200, &r);
    json_str(r.body, "token", tok[1], 33);
    id_shop = json_int(r.body, "id");
    http_resp_free(&r);
    id_none = request_person(f, NULL, tok[2], 3);

    /* the list and the live list */
    call(f, "GET", "/api/inbox", a_h, NULL, 200, &r);
    assert_non_null(strstr(r.body, "\"bot\":\"shopbot\""));
    assert_null(strstr(r.body, "\"bot\":\"hrbot\""));
    assert_int_equal(count(r.body, "\"kind\":\"chat\""), 1);
    http_resp_free(&r);
    expect(f, "GET", "/api/inbox", admin, NULL, 200, "\"bot\":\"hrbot\"", "\"bot\":\"shopbot\"");
    assert_true(sse_wait(&mine, "\"bot\":\"shopbot\"", 5000));
    assert_null(strstr(mine.buf, "hrbot"));

    /* by id: hr's and the bot-less conversation do not exist for this agent; nothing changes */
    for (int k = 0; k < 2; k++) {
        int64_t id = k ? id_none : id_hr;
        snprintf(path, sizeof path, "/api/inbox/%lld", (long long)id);
        expect(f, "GET", path, a_h, NULL, 404, "ENOENT", NULL);
        snprintf(path, sizeof path, "/api/inbox/%lld/stream", (long long)id);
        expect(f, "GET", path, a_h, NULL, 404, "ENOENT", NULL);
        snprintf(path, sizeof path, "/api/inbox/%lld/take", (long long)id);
        expect(f, "POST", path, a_h, "{}", 404, "ENOENT", NULL);
        snprintf(path, sizeof path, "/api/inbox/%lld/messages", (long long)id);
        expect(f, "POST", path, a_h, "{\"text\":\"hi\"}", 404, "ENOENT", NULL);
        snprintf(path, sizeof path, "/api/inbox/%lld/close", (long long)id);
        expect(f, "POST", path, a_h, "{}", 404, "ENOENT", NULL);
        snprintf(path, sizeof path, "/api/inbox/%lld", (long long)id);
        expect(f, "GET", path, admin, NULL, 200, "\"state\":\"queued\"", NULL);
    }
    snprintf(path, sizeof path, "/api/inbox/%lld", (long long)id_hr);
    call(f, "GET", path, admin, NULL, 200, &r);
    assert_null(strstr(r.body, "\"text\":\"hi\""));
    http_resp_free(&r);

    /* the shop's conversation: all of it */
    snprintf(path, sizeof path, "/api/inbox/%lld/take", (long long)id_shop);
    expect(f, "POST", path, a_h, "{}", 200, NULL, NULL);
    snprintf(path, sizeof path, "/api/inbox/%lld/messages", (long long)id_shop);
    expect(f, "POST", path, a_h, "{\"text\":\"shop agent here\"}", 200, "\"seq\"", NULL);
    snprintf(path, sizeof path, "/api/inbox/%lld", (long long)id_shop);
    expect(f, "GET", path, a_h, NULL, 200, "shop agent here", "\"state\":\"taken\"");
    assert_true(sse_wait(&mine, "\"state\":\"taken\"", 5000));
    assert_null(strstr(mine.buf, "hrbot")); /* the live list never held the others (events are in order) */
    assert_null(strstr(mine.buf, "\"bot\":\"\""));
    snprintf(path, sizeof path, "/api/inbox/%lld/close", (long long)id_shop);
    expect(f, "POST", path, a_h, "{}", 200, NULL, NULL);
    sse_close(&mine);
    sse_close(&inbox);
    webfix_free(f);
}

/* Messages of a handoff from a logged bot conversation join that conversation's log: the export
 * shows the customer's ("handoff") and the agent's ("agent", the agent's name as model) messages
 * under the bot's conversation id; the statistics stay the bot's (questions, modes, top questions);
 * a handoff with no bot conversation logs nothing. */
static void test_handoff_log(void **state)
{
    struct webfix *f = fixture_new(NULL);
    char secret[33], tok[33], tok2[33], path[256], body[256], conv[64];
    int64_t mid, id, id2, questions;
    struct sse inbox;
    struct http_resp r;
    const char *p;
    (void)state;
    ask(f, "Can I talk to a human", NULL, secret, &mid, "keyword");
    sse_open(&inbox, f->port, "/api/inbox/stream", AUTH);
    assert_true(sse_wait(&inbox, "event: inbox", 5000));
    call(f, "GET", "/api/stats", admin, NULL, 200, &r);
    questions = json_int(r.body, "questions");
    assert_int_equal(questions, 1);
    http_resp_free(&r);

    id = request_person(f, secret, tok, 1);
    id2 = request_person(f, NULL, tok2, 2);
    snprintf(path, sizeof path, "/api/inbox/%lld/take", (long long)id);
    expect(f, "POST", path, admin, "{}", 200, NULL, NULL);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"text\":\"zebrakettle leaks\"}", tok);
    expect(f, "POST", "/api/handoff/messages", public_h, body, 200, NULL, NULL);
    snprintf(path, sizeof path, "/api/inbox/%lld/messages", (long long)id);
    expect(f, "POST", path, admin, "{\"text\":\"a new zebrakettle is on its way\"}", 200, NULL, NULL);
    snprintf(path, sizeof path, "/api/inbox/%lld/take", (long long)id2);
    expect(f, "POST", path, admin, "{}", 200, NULL, NULL);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"text\":\"orphanmessage\"}", tok2);
    expect(f, "POST", "/api/handoff/messages", public_h, body, 200, NULL, NULL);
    snprintf(path, sizeof path, "/api/inbox/%lld/messages", (long long)id2);
    expect(f, "POST", path, admin, "{\"text\":\"orphanreply\"}", 200, NULL, NULL);

    call(f, "GET", "/api/logs/export?format=jsonl", admin, NULL, 200, &r);
    assert_int_equal(count(r.body, "\n"), 3); /* the bot's answer, the customer's, the agent's */
    p = strstr(r.body, "\"conversation_id\":");
    assert_non_null(p);
    snprintf(conv, sizeof conv, "%.*s,", (int)strcspn(p, ","), p);
    assert_int_equal(count(r.body, conv), 3); /* one conversation */
    p = strstr(r.body, "\"question\":\"zebrakettle leaks\"");
    assert_non_null(p);
    assert_non_null(strstr(p, "\"mode\":\"handoff\""));
    p = strstr(r.body, "\"answer\":\"a new zebrakettle is on its way\"");
    assert_non_null(p);
    assert_non_null(strstr(p, "\"mode\":\"agent\""));
    assert_non_null(strstr(p, "\"model\":\"admin\""));
    assert_null(strstr(r.body, "orphan"));
    http_resp_free(&r);

    /* the agent's view of the bot's turns holds the bot's answer only, not the logged handoff */
    snprintf(path, sizeof path, "/api/inbox/%lld", (long long)id);
    call(f, "GET", path, admin, NULL, 200, &r);
    assert_int_equal(count(r.body, "\"message_id\":"), 1);
    assert_int_equal(count(r.body, "\"mode\":\"agent\""), 0);
    http_resp_free(&r);

    call(f, "GET", "/api/stats", admin, NULL, 200, &r);
    assert_int_equal(json_int(r.body, "questions"), questions);
    assert_null(strstr(r.body, "zebrakettle"));
    assert_null(strstr(r.body, "\"agent\""));
    assert_null(strstr(r.body, "\"handoff\""));
    http_resp_free(&r);
    sse_close(&inbox);
    webfix_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hours),
        cmocka_unit_test(test_keywords),
        cmocka_unit_test(test_tz),
        cmocka_unit_test(test_live_chat),
        cmocka_unit_test(test_out_of_hours),
        cmocka_unit_test(test_notify),
        cmocka_unit_test(test_bot_handoff),
        cmocka_unit_test(test_coll_handoff),
        cmocka_unit_test(test_stream_threads),
        cmocka_unit_test(test_coll_agent),
        cmocka_unit_test(test_handoff_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
