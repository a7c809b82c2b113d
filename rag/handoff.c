/* rag/handoff.c: the rules of human handoff (issue #17) that do not need a connection: business
 * hours (handoff.hours in handoff.timezone), the keyword trigger (handoff.keywords), the fallback
 * streak (handoff.after_fallbacks over the conversation log) and the check of a customer's message.
 * The store's state machine is index/store_handoff.c; the HTTP routes, live streams and agents'
 * presence are web/api_handoff.c.
 *
 * handoff.hours grammar: RANGE ("," RANGE)*, RANGE = DAYS " " HH:MM "-" HH:MM, DAYS = DAY | DAY "-"
 * DAY, DAY = Mon|Tue|Wed|Thu|Fri|Sat|Sun (any case). A day span may wrap (Sat-Mon). The end time is
 * exclusive and must follow the start (no ranges across midnight: write two). "" = always open.
 * handoff.timezone is a fixed UTC offset ("UTC", "+08:00", "-05:30") or an IANA zone name
 * ("Europe/Berlin", "Asia/Shanghai") whose daylight saving rules apply: base/tz.c reads the zone's
 * TZif file from /usr/share/zoneinfo (package tzdata) at each check, with no process-wide TZ.
 * Keywords: a question asks for a person when it contains one of the comma-separated phrases; ASCII
 * letters compare case-insensitively and an ASCII phrase must stand as whole words ("agent" matches
 * "an agent please" but not "agents' fees" or "reagent"); other phrases (Chinese) match anywhere.
 * Invariants: pure functions over a config snapshot, thread-safe. Tests: tests/web/test_handoff.c
 * (test_hours, test_keywords) and over HTTP. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rag/rag_int.h"

static const char *const ho_days[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int ho_day(const char *p)
{
    for (int d = 0; d < 7; d++)
        if (strncasecmp(p, ho_days[d], 3) == 0)
            return d;
    return -1;
}

static const char *ho_skip(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* HH:MM -> minutes of the day (0..1440; 24:00 allowed as an end); -1 when malformed. */
static int ho_clock(const char *p, const char **end)
{
    int h, m;
    if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || p[2] != ':' ||
        !isdigit((unsigned char)p[3]) || !isdigit((unsigned char)p[4]))
        return -1;
    h = (p[0] - '0') * 10 + (p[1] - '0');
    m = (p[3] - '0') * 10 + (p[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    *end = p + 5;
    return h * 60 + m;
}

int rag_handoff_tz_minutes(const char *tz, int *minutes, struct kb_error *err)
{
    int h, m;
    *minutes = 0;
    if (!strcasecmp(tz, "UTC") || !strcasecmp(tz, "Z"))
        return 0;
    if ((tz[0] != '+' && tz[0] != '-') || strlen(tz) != 6 || tz[3] != ':' || !isdigit((unsigned char)tz[1]) ||
        !isdigit((unsigned char)tz[2]) || !isdigit((unsigned char)tz[4]) || !isdigit((unsigned char)tz[5]))
        return kb_error_set(err, KB_ECONFIG, "handoff.timezone '%.32s' is not UTC or a UTC offset like +08:00", tz);
    h = (tz[1] - '0') * 10 + (tz[2] - '0');
    m = (tz[4] - '0') * 10 + (tz[5] - '0');
    if (h > 14 || m > 59)
        return kb_error_set(err, KB_ECONFIG, "handoff.timezone '%.32s' is out of range (-14:00..+14:00)", tz);
    *minutes = (tz[0] == '-' ? -1 : 1) * (h * 60 + m);
    return 0;
}

/* Parses one RANGE at *pp; fills the day mask and minutes; advances *pp. */
static int ho_range(const char **pp, unsigned *days, int *from, int *to, struct kb_error *err)
{
    const char *p = ho_skip(*pp), *start = p;
    int d0 = ho_day(p), d1;
    if (d0 < 0)
        return kb_error_set(err, KB_ECONFIG, "handoff.hours: expected a day (Mon..Sun) at '%.20s'", start);
    p += 3;
    d1 = d0;
    if (*p == '-') {
        if ((d1 = ho_day(p + 1)) < 0)
            return kb_error_set(err, KB_ECONFIG, "handoff.hours: expected a day after '-' at '%.20s'", start);
        p += 4;
    }
    *days = 0;
    for (int d = d0;; d = (d + 1) % 7) {
        *days |= 1u << d;
        if (d == d1)
            break;
    }
    if (*p != ' ')
        return kb_error_set(err, KB_ECONFIG, "handoff.hours: expected ' HH:MM-HH:MM' after the days at '%.20s'", start);
    p = ho_skip(p);
    if ((*from = ho_clock(p, &p)) < 0 || *p != '-' || (*to = ho_clock(p + 1, &p)) < 0)
        return kb_error_set(err, KB_ECONFIG, "handoff.hours: expected HH:MM-HH:MM at '%.20s'", start);
    if (*to <= *from)
        return kb_error_set(err, KB_ECONFIG, "handoff.hours: '%.20s' ends before it starts (split a range across "
                                             "midnight in two)", start);
    *pp = ho_skip(p);
    return 0;
}

/* The offset of handoff.timezone tz at now_s, in seconds east of UTC. */
static int ho_offset(const char *tz, int64_t now_s, int64_t *off_s, struct kb_error *err)
{
    struct kb_error e = {0};
    struct kb_tz *z;
    int min = 0, rc;
    *off_s = 0;
    if (!strcasecmp(tz, "UTC") || !strcasecmp(tz, "Z") || tz[0] == '+' || tz[0] == '-') {
        rc = rag_handoff_tz_minutes(tz, &min, err);
        *off_s = (int64_t)min * 60;
        return rc;
    }
    if ((rc = kb_tz_load(NULL, tz, &z, &e)))
        return kb_error_set(err, KB_ECONFIG, "handoff.timezone: %s", e.msg);
    *off_s = kb_tz_offset(z, now_s);
    kb_tz_free(z);
    return 0;
}

int rag_handoff_in_hours(const char *hours, const char *tz, int64_t now_s, bool *open, struct kb_error *err)
{
    const char *p = hours ? ho_skip(hours) : "";
    int rc, wday, minute;
    int64_t local, off;
    struct tm tm;
    time_t t;
    *open = false;
    if ((rc = ho_offset(tz ? tz : "UTC", now_s, &off, err)))
        return rc;
    local = now_s + off;
    t = (time_t)local;
    gmtime_r(&t, &tm);
    wday = (tm.tm_wday + 6) % 7; /* 0 = Monday */
    minute = tm.tm_hour * 60 + tm.tm_min;
    if (!*p) {
        *open = true;
        return 0;
    }
    while (*p) {
        unsigned days = 0;
        int from = 0, to = 0;
        if ((rc = ho_range(&p, &days, &from, &to, err)))
            return rc;
        if ((days & (1u << wday)) && minute >= from && minute < to)
            *open = true;
        if (*p == ',')
            p = ho_skip(p + 1);
        else if (*p)
            return kb_error_set(err, KB_ECONFIG, "handoff.hours: expected ',' at '%.20s'", p);
    }
    return 0;
}

static bool ho_word_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '\'';
}

/* True when the phrase kw[0..n) occurs in q: ASCII case-insensitive; an ASCII-only phrase must
 * stand as whole words. */
static bool ho_contains(const char *q, const char *kw, size_t n)
{
    bool ascii = true;
    size_t qn = strlen(q);
    for (size_t i = 0; i < n; i++)
        ascii = ascii && (unsigned char)kw[i] < 0x80;
    for (size_t i = 0; n && i + n <= qn; i++) {
        if (strncasecmp(q + i, kw, n) != 0)
            continue;
        if (!ascii)
            return true;
        if ((i == 0 || !ho_word_char((unsigned char)q[i - 1])) && !ho_word_char((unsigned char)q[i + n]))
            return true;
    }
    return false;
}

bool rag_handoff_keyword(const char *keywords, const char *question)
{
    const char *p = keywords ? keywords : "";
    if (!question)
        return false;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n && ho_contains(question, s, n))
            return true;
        p = e ? e + 1 : p + strlen(p);
    }
    return false;
}

int rag_handoff_text_check(const char *text, struct kb_error *err)
{
    size_t n_chars = 0;
    if (!text || !text[0])
        return kb_error_set(err, KB_EINVAL, "text is empty");
    if (!kb_utf8_valid(text, strlen(text)))
        return kb_error_set(err, KB_EINVAL, "text is not valid UTF-8");
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        n_chars += (*p & 0xC0) != 0x80;
    if (n_chars > RAG_HANDOFF_TEXT_MAX)
        return kb_error_set(err, KB_EINVAL, "text has %zu characters; at most %d are allowed", n_chars,
                            RAG_HANDOFF_TEXT_MAX);
    return 0;
}

int rag_handoff_fallback_streak(struct rag *r, const char *log_secret, int64_t before_id, int *n_out,
                                struct kb_error *err)
{
    struct kb_arena a;
    struct index_handoff_turn *t;
    int n = 0, rc;
    *n_out = 0;
    kb_arena_init(&a, 16 * 1024, 0);
    rc = index_handoff_bot_turns(r->st, log_secret, &a, &t, &n, err);
    while (rc == 0 && before_id > 0 && n > 0 && t[n - 1].message_id >= before_id)
        n--; /* the answer being judged, when the log's writer was quicker than the caller */
    for (int i = n - 1; rc == 0 && i >= 0 && t[i].fallback; i--)
        (*n_out)++;
    kb_arena_release(&a);
    return rc;
}
