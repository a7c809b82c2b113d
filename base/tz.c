/* base/tz.c: time zones by IANA name ("Europe/Berlin", "Asia/Shanghai") for handoff.timezone,
 * read from the system's compiled zone files (package tzdata: /usr/share/zoneinfo, or $TZDIR) by a
 * small parser of our own, because the C library applies a named zone only through the process-wide
 * TZ variable, which a running server must not change.
 *
 * Format (TZif, RFC 8536): a 44-byte header ("TZif", version, six big-endian counts) and a data
 * block of transition times (4 bytes each), their time type indices, the time types (UT offset,
 * is-DST, abbreviation index), abbreviations, leap seconds and two indicator arrays. Version 2 and
 * later repeat header and block with 8-byte times, then a footer "\n<POSIX TZ string>\n" that gives
 * the rule after the last transition (zone files may stop listing transitions in 2037, or list none:
 * "slim" files). We read the 64-bit block when there is one, else the 32-bit one, and the footer.
 * Footer grammar (POSIX TZ with RFC 8536's extensions): STD OFFSET [DST [OFFSET] [,START[/TIME],
 * END[/TIME]]], names alphabetic (3+) or quoted <...>, OFFSET [+-]hh[:mm[:ss]] west of Greenwich,
 * dates Jn (1..365, no Feb 29), n (0..365) or Mm.w.d, TIME [+-]h[hh][:mm[:ss]] up to 167 hours.
 *
 * Every count is checked against the bytes left and capped (TZ_MAX_*) before anything is read;
 * transitions must ascend and type indices must name a type; anything else is KB_ECORRUPT naming
 * what was wrong. A zone name is letters, digits and "/_+-." with no "." or ".." component, so it
 * cannot leave the zone directory. Thread-safe: a struct kb_tz is immutable once built.
 * Tests: tests/web/test_handoff.c (test_tz); fuzz/fuzz_tzif.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"

#define TZ_MAX_FILE (256u << 10) /* real zone files are under 4 KiB */
#define TZ_MAX_TIMES 4096
#define TZ_MAX_TYPES 256
#define TZ_MAX_CHARS 1024
#define TZ_MAX_LEAPS 256
#define TZ_MAX_OFFSET (26 * 3600) /* |UT offset| beyond this is not a place on Earth */

/* One end of daylight saving time in a footer rule. */
struct tz_date {
    char kind;    /* 'J' (1..365, Feb 29 never counted), 'D' (0..365), 'M' (month.week.day) */
    int n, m, w, d;
    int32_t time; /* seconds after local midnight (may be negative or past 24 h) */
};

struct kb_tz {
    int n_times;
    int64_t *times;          /* transition times, ascending */
    uint8_t *idx;            /* type after each transition */
    int n_types;
    int32_t *utoff;          /* seconds east of UT of each type */
    bool has_rule;           /* footer present and not empty */
    int32_t std_off, dst_off; /* footer: seconds east of UT; dst_off used when has_dst */
    bool has_dst;
    struct tz_date start, end;
};

static uint32_t tz_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t tz_be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)tz_be32(p) << 32 | tz_be32(p + 4));
}

/* ---- the footer's POSIX TZ rule ---------------------------------------------------------------------- */

static const char *tz_name(const char *p)
{
    const char *s = p;
    if (*p == '<') {
        for (p++; (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '+' ||
                  *p == '-';
             p++)
            ;
        return *p == '>' && p - s >= 4 ? p + 1 : NULL;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

static const char *tz_num(const char *p, int max, int *out)
{
    int v = 0, n = 0;
    while (*p >= '0' && *p <= '9' && n < 4) {
        v = v * 10 + (*p++ - '0');
        n++;
    }
    if (n == 0 || v > max)
        return NULL;
    *out = v;
    return p;
}

/* [+-]hh[:mm[:ss]] into seconds; max_h bounds the hours. */
static const char *tz_hms(const char *p, int max_h, int32_t *out)
{
    int sign = 1, h = 0, m = 0, s = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!(p = tz_num(p, max_h, &h)))
        return NULL;
    if (*p == ':' && !(p = tz_num(p + 1, 59, &m)))
        return NULL;
    if (p && *p == ':' && !(p = tz_num(p + 1, 59, &s)))
        return NULL;
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *tz_rule_date(const char *p, struct tz_date *d)
{
    d->time = 2 * 3600;
    if (*p == 'J') {
        d->kind = 'J';
        if (!(p = tz_num(p + 1, 365, &d->n)) || d->n < 1)
            return NULL;
    } else if (*p == 'M') {
        d->kind = 'M';
        if (!(p = tz_num(p + 1, 12, &d->m)) || d->m < 1 || *p != '.' || !(p = tz_num(p + 1, 5, &d->w)) ||
            d->w < 1 || *p != '.' || !(p = tz_num(p + 1, 6, &d->d)))
            return NULL;
    } else {
        d->kind = 'D';
        if (!(p = tz_num(p, 365, &d->n)))
            return NULL;
    }
    if (*p == '/' && !(p = tz_hms(p + 1, 167, &d->time)))
        return NULL;
    return p;
}

static int tz_rule(struct kb_tz *tz, const char *p, struct kb_error *err)
{
    int32_t west;
    if (!*p)
        return 0; /* an empty footer: no rule after the last transition */
    if (!(p = tz_name(p)) || !(p = tz_hms(p, 24, &west)))
        return kb_error_set(err, KB_ECORRUPT, "its rule lacks a standard name or offset");
    tz->has_rule = true;
    tz->std_off = -west;
    if (!*p)
        return 0;
    if (!(p = tz_name(p)))
        return kb_error_set(err, KB_ECORRUPT, "its rule has a bad daylight-saving name");
    tz->has_dst = true;
    tz->dst_off = tz->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = tz_hms(p, 24, &west)))
            return kb_error_set(err, KB_ECORRUPT, "its rule has a bad daylight-saving offset");
        tz->dst_off = -west;
    }
    if (*p != ',' || !(p = tz_rule_date(p + 1, &tz->start)) || *p != ',' || !(p = tz_rule_date(p + 1, &tz->end)) ||
        *p)
        return kb_error_set(err, KB_ECORRUPT, "its rule's daylight-saving dates are malformed");
    return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; m 1..12). */
static int64_t tz_days(int64_t y, int m, int d)
{
    int64_t era, yoe, doy;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static bool tz_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The UT time of date d of year y, d->time being local time at offset off (seconds east). */
static int64_t tz_when(int64_t y, const struct tz_date *d, int32_t off)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t day;
    if (d->kind == 'J') {
        day = tz_days(y, 1, 1) + d->n - 1 + (tz_leap(y) && d->n >= 60);
    } else if (d->kind == 'D') {
        day = tz_days(y, 1, 1) + d->n;
    } else {
        int64_t first = tz_days(y, d->m, 1);
        int wday = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday; 0 = Sunday */
        int len = mdays[d->m - 1] + (d->m == 2 && tz_leap(y));
        int k = (d->d - wday + 7) % 7 + (d->w - 1) * 7;
        while (k >= len)
            k -= 7; /* week 5: the last such day of the month */
        day = first + k;
    }
    return day * 86400 + d->time - off;
}

static int32_t tz_rule_offset(const struct kb_tz *tz, int64_t t)
{
    struct tm tm;
    time_t local = (time_t)(t + tz->std_off);
    int64_t y, start, end;
    if (!tz->has_dst)
        return tz->std_off;
    if (!gmtime_r(&local, &tm))
        return tz->std_off;
    y = (int64_t)tm.tm_year + 1900;
    start = tz_when(y, &tz->start, tz->std_off); /* DST starts at standard local time */
    end = tz_when(y, &tz->end, tz->dst_off);     /* and ends at daylight-saving local time */
    if (start <= end)
        return t >= start && t < end ? tz->dst_off : tz->std_off;
    return t >= end && t < start ? tz->std_off : tz->dst_off; /* southern hemisphere */
}

/* ---- the TZif file ------------------------------------------------------------------------------------- */

struct tz_head {
    uint32_t isut, isstd, leap, time, type, chars;
};

static int tz_head(const uint8_t *p, size_t n, struct tz_head *h, struct kb_error *err)
{
    if (n < 44 || memcmp(p, "TZif", 4) != 0)
        return kb_error_set(err, KB_ECORRUPT, "not a TZif file (bad magic or shorter than its header)");
    h->isut = tz_be32(p + 20);
    h->isstd = tz_be32(p + 24);
    h->leap = tz_be32(p + 28);
    h->time = tz_be32(p + 32);
    h->type = tz_be32(p + 36);
    h->chars = tz_be32(p + 40);
    if (h->type == 0 || h->type > TZ_MAX_TYPES || h->time > TZ_MAX_TIMES || h->chars > TZ_MAX_CHARS ||
        h->leap > TZ_MAX_LEAPS || (h->isut && h->isut != h->type) || (h->isstd && h->isstd != h->type))
        return kb_error_set(err, KB_ECORRUPT, "header counts out of range (%u transitions, %u types)", h->time,
                            h->type);
    return 0;
}

static uint64_t tz_block_bytes(const struct tz_head *h, int tsize)
{
    return (uint64_t)h->time * (uint64_t)tsize + h->time + (uint64_t)h->type * 6 + h->chars +
           (uint64_t)h->leap * (uint64_t)(tsize + 4) + h->isstd + h->isut;
}

/* Reads the data block at p (n bytes left) with tsize-byte times into tz. */
static int tz_block(struct kb_tz *tz, const struct tz_head *h, const uint8_t *p, size_t n, int tsize,
                    struct kb_error *err)
{
    const uint8_t *idx = p + (size_t)h->time * (size_t)tsize, *types = idx + h->time;
    if (tz_block_bytes(h, tsize) > n)
        return kb_error_set(err, KB_ECORRUPT, "truncated data block");
    tz->n_times = (int)h->time;
    tz->n_types = (int)h->type;
    tz->times = kb_xcalloc(h->time ? h->time : 1, sizeof *tz->times);
    tz->idx = kb_xcalloc(h->time ? h->time : 1, 1);
    tz->utoff = kb_xcalloc(h->type, sizeof *tz->utoff);
    for (uint32_t i = 0; i < h->time; i++) {
        tz->times[i] = tsize == 8 ? tz_be64(p + 8 * i) : (int64_t)(int32_t)tz_be32(p + 4 * i);
        tz->idx[i] = idx[i];
        if (idx[i] >= h->type)
            return kb_error_set(err, KB_ECORRUPT, "transition %u names type %u of %u", i, idx[i], h->type);
        if (i > 0 && tz->times[i] <= tz->times[i - 1])
            return kb_error_set(err, KB_ECORRUPT, "transition times do not ascend at %u", i);
    }
    for (uint32_t i = 0; i < h->type; i++) {
        int32_t off = (int32_t)tz_be32(types + 6 * i);
        if (off < -TZ_MAX_OFFSET || off > TZ_MAX_OFFSET || types[6 * i + 5] >= h->chars)
            return kb_error_set(err, KB_ECORRUPT, "time type %u is out of range", i);
        tz->utoff[i] = off;
    }
    return 0;
}

void kb_tz_free(struct kb_tz *tz)
{
    if (!tz)
        return;
    free(tz->times);
    free(tz->idx);
    free(tz->utoff);
    free(tz);
}

int kb_tz_parse(const void *data, size_t n, struct kb_tz **out, struct kb_error *err)
{
    const uint8_t *p = data;
    struct kb_tz *tz = kb_xcalloc(1, sizeof *tz);
    struct tz_head h;
    int rc;
    *out = NULL;
    if ((rc = tz_head(p, n, &h, err)))
        goto out_free;
    if (p[4] == 0) { /* version 1: 32-bit times, no footer */
        rc = tz_block(tz, &h, p + 44, n - 44, 4, err);
    } else {
        uint64_t skip = 44 + tz_block_bytes(&h, 4);
        const uint8_t *q, *f, *nl;
        if (skip > n) {
            rc = kb_error_set(err, KB_ECORRUPT, "truncated version 1 block");
            goto out_free;
        }
        q = p + skip;
        if ((rc = tz_head(q, n - skip, &h, err)) || (rc = tz_block(tz, &h, q + 44, n - skip - 44, 8, err)))
            goto out_free;
        f = q + 44 + tz_block_bytes(&h, 8); /* the footer: "\n" rule "\n" */
        if (f >= p + n || *f != '\n' || !(nl = memchr(f + 1, '\n', (size_t)(p + n - f - 1))) || nl - f - 1 > 255) {
            rc = kb_error_set(err, KB_ECORRUPT, "missing or overlong footer");
        } else {
            char rule[256];
            memcpy(rule, f + 1, (size_t)(nl - f - 1));
            rule[nl - f - 1] = '\0';
            rc = tz_rule(tz, rule, err);
        }
    }
out_free:
    if (rc)
        kb_tz_free(tz);
    else
        *out = tz;
    return rc;
}

int32_t kb_tz_offset(const struct kb_tz *tz, int64_t t)
{
    int lo = 0, hi = tz->n_times;
    if (tz->n_times == 0 || t >= tz->times[tz->n_times - 1]) {
        if (tz->has_rule)
            return tz_rule_offset(tz, t);
        return tz->n_times ? tz->utoff[tz->idx[tz->n_times - 1]] : tz->utoff[0];
    }
    if (t < tz->times[0])
        return tz->utoff[0]; /* before the first transition: the first type (RFC 8536 3.2) */
    while (hi - lo > 1) { /* times[lo] <= t < times[hi] */
        int mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->utoff[tz->idx[lo]];
}

bool kb_tz_name_ok(const char *name)
{
    size_t n = strlen(name), comp = 0;
    if (n == 0 || n > 200 || name[0] == '/')
        return false;
    for (size_t i = 0; i <= n; i++) {
        char c = name[i];
        if (c == '/' || c == '\0') {
            if (comp == 0 || (comp == 1 && name[i - 1] == '.') ||
                (comp == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
                return false;
            comp = 0;
        } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                   c == '+' || c == '-' || c == '.') {
            comp++;
        } else {
            return false;
        }
    }
    return true;
}

int kb_tz_load(const char *dir, const char *name, struct kb_tz **out, struct kb_error *err)
{
    char path[512];
    uint8_t *buf = NULL;
    size_t n = 0;
    FILE *f;
    int rc = 0;
    *out = NULL;
    if (!kb_tz_name_ok(name))
        return kb_error_set(err, KB_ECONFIG, "time zone '%.64s' is not a zone name like Europe/Berlin", name);
    if (!dir || !dir[0])
        dir = getenv("TZDIR"); /* read only: the standard override of the zone directory */
    if (!dir || !dir[0])
        dir = "/usr/share/zoneinfo";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!(f = fopen(path, "rb")))
        return kb_error_set(err, KB_ECONFIG, "unknown time zone '%.64s' (no %s: %s; package tzdata holds the zones)",
                            name, path, strerror(errno));
    buf = kb_xmalloc(TZ_MAX_FILE + 1);
    n = fread(buf, 1, TZ_MAX_FILE + 1, f);
    if (ferror(f))
        rc = kb_error_set(err, KB_EIO, "cannot read %s", path);
    else if (n > TZ_MAX_FILE)
        rc = kb_error_set(err, KB_ECORRUPT, "time zone file %s is over %u bytes", path, TZ_MAX_FILE);
    fclose(f);
    if (rc == 0) {
        struct kb_error inner = {0};
        if ((rc = kb_tz_parse(buf, n, out, &inner)))
            kb_error_set(err, rc, "time zone '%.64s' (%s) is corrupt: %s", name, path, inner.msg);
    }
    free(buf);
    return rc;
}
