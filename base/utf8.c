/* base/utf8.c: strict UTF-8 decoding and encoding (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF) and the script classes the tokenizers and chunker need. One encoder serves both
 * sides: kb_utf8_encode maps surrogates to U+FFFD, kb_utf8_encode_lenient (the tokenizers', after
 * llama.cpp) writes them as their own 3 bytes so invalid input keeps its bytes through a
 * decode/encode round trip. Pure functions, no state. Tests: tests/base/test_base.c (test_utf8). */
#include "base/base.h"

int kb_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t c;
    int len;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    if (u[0] >= 0xC2 && u[0] <= 0xDF) {
        len = 2;
        c = u[0] & 0x1F;
    } else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
        len = 3;
        c = u[0] & 0x0F;
    } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
        len = 4;
        c = u[0] & 0x07;
    } else {
        goto bad;
    }
    if ((size_t)len > n)
        goto bad;
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80)
            goto bad;
        c = (c << 6) | (u[i] & 0x3F);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        goto bad;
    *cp = c;
    return len;
bad:
    *cp = 0xFFFD;
    return -1;
}

bool kb_utf8_valid(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int len = kb_utf8_decode(s + i, n - i, &cp);
        if (len < 0)
            return false;
        i += (size_t)len;
    }
    return true;
}

int kb_utf8_encode(uint32_t cp, char out[4])
{
    return kb_utf8_encode_lenient(cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp, out);
}

int kb_utf8_encode_lenient(uint32_t cp, char out[4])
{
    if (cp > 0x10FFFF)
        cp = 0xFFFD;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

bool kb_utf8_is_han(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2EBEF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x30000 && cp <= 0x3134F);
}

bool kb_utf8_is_cjk(uint32_t cp)
{
    return kb_utf8_is_han(cp) || (cp >= 0x3040 && cp <= 0x30FF) || /* Hiragana, Katakana */
           (cp >= 0x31F0 && cp <= 0x31FF) || (cp >= 0xAC00 && cp <= 0xD7AF) || /* Hangul */
           (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3130 && cp <= 0x318F);
}

int kb_utf8_sanitize(struct kb_buf *b, const char *s, size_t n)
{
    size_t i = 0;
    int rc = 0;
    while (i < n && !rc) {
        uint32_t cp;
        int len = kb_utf8_decode(s + i, n - i, &cp);
        if (len < 0) {
            rc = kb_buf_append(b, "\xEF\xBF\xBD", 3);
            i++;
        } else {
            rc = kb_buf_append(b, s + i, (size_t)len);
            i += (size_t)len;
        }
    }
    return rc;
}
