/* base/util.c: small helpers the house style wants instead of banned libc calls (strlcpy instead
 * of strcpy, strict parsers instead of atoi), CPU feature detection for `kbox version` and the
 * kernel dispatch, the monotonic clock, and the available memory (/proc/meminfo's MemAvailable)
 * that the model checks compare a file's size with. Tests: tests/base/test_base.c (test_util). */
#include "base/base.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

size_t kb_strlcpy(char *dst, const char *src, size_t dst_bytes)
{
    size_t n = strlen(src);
    if (dst_bytes) {
        size_t k = n < dst_bytes - 1 ? n : dst_bytes - 1;
        memcpy(dst, src, k);
        dst[k] = '\0';
    }
    return n;
}

int kb_parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;
    if (!s || !*s)
        return KB_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || end == s)
        return KB_EINVAL;
    *out = v;
    return 0;
}

int kb_parse_f64(const char *s, double *out)
{
    char *end;
    double v;
    if (!s || !*s)
        return KB_EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || end == s || !isfinite(v))
        return KB_EINVAL;
    *out = v;
    return 0;
}

bool kb_str_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

void kb_cpu_detect(struct kb_cpu *c)
{
    memset(c, 0, sizeof *c);
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    c->avx2 = __builtin_cpu_supports("avx2");
    c->fma = __builtin_cpu_supports("fma");
    c->avx512f = __builtin_cpu_supports("avx512f");
    c->avx512bw = __builtin_cpu_supports("avx512bw");
    c->avx512vl = __builtin_cpu_supports("avx512vl");
    c->avx512vnni = __builtin_cpu_supports("avx512vnni");
    {
        /* f16c, avx512bf16/fp16 and avx-vnni are not named by every compiler's builtin: ask cpuid. */
        unsigned a, b, cc, d;
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(cc), "=d"(d) : "a"(1), "c"(0));
        c->f16c = (cc >> 29) & 1;
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(cc), "=d"(d) : "a"(7), "c"(0));
        c->avx512fp16 = (d >> 23) & 1;
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(cc), "=d"(d) : "a"(7), "c"(1));
        c->avxvnni = (a >> 4) & 1;
        c->avx512bf16 = (a >> 5) & 1;
    }
#endif
}

void kb_cpu_describe(const struct kb_cpu *c, char *out, size_t out_bytes)
{
    const struct { bool on; const char *name; } f[] = {
        {c->avx2, "avx2"},           {c->fma, "fma"},
        {c->f16c, "f16c"},           {c->avx512f, "avx512f"},
        {c->avx512bw, "avx512bw"},   {c->avx512vl, "avx512vl"},
        {c->avx512vnni, "avx512vnni"}, {c->avx512bf16, "avx512bf16"},
        {c->avx512fp16, "avx512fp16"}, {c->avxvnni, "avxvnni"},
    };
    size_t used = 0;
    if (out_bytes)
        out[0] = '\0';
    for (size_t i = 0; i < KB_ARRAY_LEN(f); i++) {
        if (!f[i].on)
            continue;
        int n = snprintf(out + used, out_bytes - used, "%s%s", used ? " " : "", f[i].name);
        if (n < 0 || (size_t)n >= out_bytes - used)
            break;
        used += (size_t)n;
    }
}

double kb_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t kb_mem_available_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
            break;
    fclose(f);
    return kb < 0 ? -1 : (int64_t)kb * 1024;
}
