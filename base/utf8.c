/* base/utf8.c: UTF-8 decoding and encoding, strict (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF) for kbox's own text, and lenient for the GGUF tokenizers (infer/tok*.c), which must
 * fail the way llama.cpp's unicode.cpp does to give its ids: overlongs and surrogates pass, a broken
 * sequence costs one byte and gives U+FFFD, and a surrogate encodes back as its own 3 bytes, so
 * invalid input keeps its bytes through a decode/encode round trip. Each pair shares one body (the
 * byte-shape scan, the bit packing); the strict side adds its checks. Also the script classes the
 * tokenizers and chunker need. Pure functions, no state. Tests: tests/base/test_base.c (test_utf8). */
#include "base/base.h"

/* The shape both decoders share: a lead byte by its high bits (0xxxxxxx, 110xxxxx, 1110xxxx,
 * 11110xxx) and that many continuation bytes (10xxxxxx) within n. Returns the length with the raw
 * value in *c (which may be overlong, a surrogate or above U+10FFFF), or -1 when the shape is
 * broken: a stray continuation byte, 0xF8..0xFF, a missing or wrong continuation byte. */
static inline int utf8_scan(const unsigned char *u, size_t n, uint32_t *c)
{
    int len;
    if (u[0] < 0x80) {
        *c = u[0];
        return 1;
    }
    if ((u[0] & 0xE0) == 0xC0) {
        len = 2;
        *c = u[0] & 0x1F;
    } else if ((u[0] & 0xF0) == 0xE0) {
        len = 3;
        *c = u[0] & 0x0F;
    } else if ((u[0] & 0xF8) == 0xF0) {
        len = 4;
        *c = u[0] & 0x07;
    } else {
        return -1;
    }
    if ((size_t)len > n)
        return -1;
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return -1;
        *c = (*c << 6) | (u[i] & 0x3F);
    }
    return len;
}

int kb_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    static const uint32_t min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000}; /* below it: overlong */
    uint32_t c;
    int len = utf8_scan((const unsigned char *)s, n, &c);
    if (len < 0 || c < min_of_len[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        *cp = 0xFFFD;
        return -1;
    }
    *cp = c;
    return len;
}

int kb_utf8_decode_lenient(const char *s, size_t n, uint32_t *cp)
{
    uint32_t c;
    int len = utf8_scan((const unsigned char *)s, n, &c);
    if (len < 0) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = c > 0x10FFFF ? 0xFFFD : c;
    return len;
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
