/* web/auth.c: the break-glass admin token, password hashing (the libsodium glue), constant-time
 * comparison, the per-IP rate limiter and the CORS origin allowlist.
 *
 * Break-glass token: auth.admin_token (or its old name server.admin_token) when set; it must be
 * WEB_TOKEN_MIN = 32 characters or more, else the server does not start. It carries owner rights.
 * Unset, there is no token at all: people log in with accounts (web/session.c) and programs use
 * API keys. The <data_dir>/admin_token file of earlier versions is no longer read or written.
 * The token is never logged. Comparison walks the whole presented token, so timing does not reveal
 * how long a matching prefix is.
 *
 * Passwords: Argon2id (libsodium crypto_pwhash_str, algorithm ARGON2ID13) with opslimit
 * WEB_PW_OPSLIMIT = 2 passes and memlimit WEB_PW_MEMLIMIT = 64 MiB (libsodium's "interactive"
 * level), one lane, a random 16-byte salt; the stored string is libsodium's encoded form
 * ($argon2id$v=19$m=65536,t=2,p=1$salt$hash), so verification reads the parameters from it and a
 * later change of the constants keeps old hashes valid. Passwords are 8 to 1024 bytes.
 *
 * Rate limiter: a fixed table of WEB_RATE_SLOTS slots hashed by client address, each counting
 * requests in the current unix minute; a slot from an older minute is reused by any address
 * that hashes there, so memory stays bounded under address floods. One mutex guards the table.
 * Clients are keyed by address, IPv6 ones by their /64 (web_rate_key), since one host or customer
 * gets a whole /64. Requests are charged by cost (web_rate_charge): one unit each, and a
 * /v1/embeddings call one more per input and per 4 KiB of text beyond the first (api_openai.c);
 * a request is admitted while the minute's budget is not spent, and may overdraw it once.
 * The same table also counts API keys ("key:PREFIX" in place of an address) for their own limits.
 * Tests: tests/web/test_web.c, tests/web/test_acct.c. */
#include "web/web_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

void web_random_hex(char *out, size_t n_hex)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    size_t n_raw = (n_hex + 1) / 2, got = 0;
    KB_ASSERT(n_raw <= sizeof raw);
    while (got < n_raw) {
        ssize_t k = getrandom(raw + got, n_raw - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        KB_ASSERT(k > 0); /* the kernel's CSPRNG does not fail once booted */
        got += (size_t)k;
    }
    for (size_t i = 0; i < n_hex; i++)
        out[i] = hex[(raw[i / 2] >> ((i & 1) ? 0 : 4)) & 15];
    out[n_hex] = '\0';
}

bool web_token_equal(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = (unsigned char)(na != nb);
    if (na == 0)
        return false; /* an empty token never authenticates */
    for (size_t i = 0; i < nb; i++)
        diff |= (unsigned char)(a[i % na] ^ b[i]);
    return diff == 0;
}

int web_token_load(struct web_ctx *ctx, const struct config *cfg, struct kb_error *err)
{
    const char *tok = cfg->auth_admin_token[0] ? cfg->auth_admin_token : cfg->server_admin_token;
    const char *key = cfg->auth_admin_token[0] ? "auth.admin_token" : "server.admin_token";
    ctx->admin_token[0] = '\0';
    if (!tok[0])
        return 0;
    if (strlen(tok) >= WEB_TOKEN_BYTES)
        return kb_error_set(err, KB_ECONFIG, "%s is longer than 64 characters", key);
    if (strlen(tok) < WEB_TOKEN_MIN)
        return kb_error_set(err, KB_ECONFIG,
                            "%s is %zu characters long; it needs %d or more (make one with: "
                            "head -c 24 /dev/urandom | base64), or leave it empty to use accounts only",
                            key, strlen(tok), WEB_TOKEN_MIN);
    kb_strlcpy(ctx->admin_token, tok, sizeof ctx->admin_token);
    return 0;
}

/* ---- passwords (libsodium) ------------------------------------------------------------------------------ */

static int pw_init(struct kb_error *err)
{
    if (sodium_init() < 0) /* idempotent and thread-safe after the first call */
        return kb_error_set(err, KB_EINTERNAL, "libsodium failed to initialise");
    return 0;
}

int web_password_check(const char *pw, struct kb_error *err)
{
    size_t n = pw ? strlen(pw) : 0;
    if (n < WEB_PW_MIN)
        return kb_error_set(err, KB_EINVAL, "the password is too short: it needs %d characters or more", WEB_PW_MIN);
    if (n > WEB_PW_MAX)
        return kb_error_set(err, KB_EINVAL, "the password is longer than %d bytes", WEB_PW_MAX);
    return 0;
}

int web_password_hash(const char *pw, char out[WEB_PW_HASH_BYTES], struct kb_error *err)
{
    int rc = web_password_check(pw, err);
    if (rc || (rc = pw_init(err)))
        return rc;
    _Static_assert(WEB_PW_HASH_BYTES >= crypto_pwhash_STRBYTES, "hash buffer");
    if (crypto_pwhash_str_alg(out, pw, strlen(pw), WEB_PW_OPSLIMIT, WEB_PW_MEMLIMIT,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return kb_error_set(err, KB_ENOMEM, "cannot hash the password (Argon2id needs %d MiB)",
                            (int)(WEB_PW_MEMLIMIT >> 20));
    return 0;
}

bool web_password_verify(const char *hash, const char *pw)
{
    if (pw_init(NULL) || !hash || !pw || strncmp(hash, "$argon2id$", 10) != 0 || strlen(pw) > WEB_PW_MAX)
        return false;
    return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

void web_sha256_hex(const char *s, char out[65])
{
    struct kb_sha256 h;
    uint8_t d[32];
    kb_sha256_init(&h);
    kb_sha256_update(&h, s, strlen(s));
    kb_sha256_final(&h, d);
    kb_sha256_hex(d, out);
}

/* ---- rate limiter ------------------------------------------------------------------------------------ */

void web_rate_init(struct web_rate *rl)
{
    memset(rl->slots, 0, sizeof rl->slots);
    pthread_mutex_init(&rl->lock, NULL);
}

void web_rate_release(struct web_rate *rl)
{
    pthread_mutex_destroy(&rl->lock);
}

void web_rate_key(const char *ip, char *out, size_t out_bytes)
{
    struct in6_addr a;
    kb_strlcpy(out, ip, out_bytes);
    if (strchr(ip, ':') && inet_pton(AF_INET6, ip, &a) == 1) {
        bool v4 = IN6_IS_ADDR_V4MAPPED(&a);
        if (!v4) /* one /64 is what one customer of an ISP or one host gets */
            memset(a.s6_addr + 8, 0, 8);
        inet_ntop(AF_INET6, &a, out, (socklen_t)out_bytes);
        if (v4 && strrchr(out, ':')) { /* ::ffff:1.2.3.4 is the IPv4 client 1.2.3.4 */
            const char *v4s = strrchr(out, ':') + 1;
            memmove(out, v4s, strlen(v4s) + 1); /* within out: the ranges overlap */
        }
        else if (!v4 && strlen(out) + 3 < out_bytes)
            memcpy(out + strlen(out), "/64", 4);
    }
}

bool web_rate_charge(struct web_rate *rl, const char *client_ip, int64_t cost, int64_t limit_per_min, int64_t now_s)
{
    int64_t minute = now_s / 60;
    char ip[64];
    uint32_t h;
    web_rate_key(client_ip, ip, sizeof ip);
    h = kb_fnv1a32(KB_FNV1A32_INIT, ip, strlen(ip));
    struct web_rate_slot *slot = NULL;
    bool ok;
    if (limit_per_min <= 0)
        return true;
    pthread_mutex_lock(&rl->lock);
    /* Probe 8 slots: the address's own slot, else a free or stale one, else (flood) the first. */
    for (int i = 0; i < 8 && !slot; i++) {
        struct web_rate_slot *s = &rl->slots[(h + (uint32_t)i) % WEB_RATE_SLOTS];
        if (strcmp(s->ip, ip) == 0)
            slot = s;
    }
    for (int i = 0; i < 8 && !slot; i++) {
        struct web_rate_slot *s = &rl->slots[(h + (uint32_t)i) % WEB_RATE_SLOTS];
        if (!s->ip[0] || s->window != minute) {
            slot = s;
            kb_strlcpy(s->ip, ip, sizeof s->ip);
            s->window = minute;
            s->count = 0;
        }
    }
    if (!slot) {
        /* Eight busy addresses share this bucket this minute: count this one against the first,
         * which errs towards limiting rather than letting a flood through. */
        slot = &rl->slots[h % WEB_RATE_SLOTS];
    }
    if (slot->window != minute) {
        slot->window = minute;
        slot->count = 0;
    }
    ok = slot->count < limit_per_min; /* any budget left admits; a costly request may end in debt */
    if (ok)
        slot->count += cost;
    pthread_mutex_unlock(&rl->lock);
    return ok;
}

bool web_rate_allow(struct web_rate *rl, const char *ip, int64_t limit_per_min, int64_t now_s)
{
    return web_rate_charge(rl, ip, 1, limit_per_min, now_s);
}

/* ---- CORS ----------------------------------------------------------------------------------------------- */

bool web_origin_listed(const char *list, const char *origin)
{
    size_t n_origin;
    if (!list || !origin || !origin[0])
        return false;
    n_origin = strlen(origin);
    while (origin[n_origin - 1] == '/' && n_origin > 1)
        n_origin--;
    while (*list) {
        const char *start, *end;
        while (*list == ',' || *list == ' ' || *list == '\t')
            list++;
        start = list;
        while (*list && *list != ',')
            list++;
        end = list;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '/'))
            end--;
        if (end - start == 1 && *start == '*')
            return true;
        if ((size_t)(end - start) == n_origin && strncasecmp(start, origin, n_origin) == 0)
            return true;
    }
    return false;
}
