/* ingest/norm.c: text normalisation for every block: the only utf8proc includer.
 *
 * Flow: raw bytes -> invalid UTF-8 dropped (kb_utf8_sanitize would insert U+FFFD; we skip instead)
 * -> NFC (utf8proc_map, skipped when every code point is one NFC leaves alone: ASCII, Latin-1, Han,
 * kana, hangul, CJK punctuation; see norm_nfc_stable) -> one pass that strips
 * control and format characters, folds whitespace runs and trims. A whitespace run becomes one
 * space, except that a run containing a line break (or an ideographic space) between two CJK
 * characters disappears: Chinese and Japanese never take spaces there, and PDFs, HTML and hard-
 * wrapped text break lines inside sentences. keep_lines mode (code) keeps \n and \t and only strips
 * controls and trailing blank lines. Output is appended to a capped kb_buf. Tests:
 * tests/ingest/test_chunk.c (normalisation cases). */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

bool norm_is_cjk_like(uint32_t cp)
{
    return kb_utf8_is_cjk(cp) || (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFFEF) ||
           (cp >= 0x2E80 && cp <= 0x2FFF) || (cp >= 0x3190 && cp <= 0x31FF);
}

static bool norm_is_space(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v' || cp == 0x85 ||
           cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Control and invisible format characters that carry no text. */
static bool norm_is_junk(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp == 0xAD || cp == 0x200B || cp == 0x2060 ||
           cp == 0xFEFF || cp == 0xFFFD || (cp >= 0xFFF9 && cp <= 0xFFFB) || (cp >= 0xD800 && cp <= 0xDFFF) ||
           (cp >= 0xE000 && cp <= 0xF8FF); /* private use: PDF symbol-font garbage */
}

/* Copies only valid UTF-8 sequences of s into b. */
static int norm_valid_only(struct kb_buf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && (unsigned char)s[j] < 0x80)
            j++;
        if (j > i) {
            int rc = kb_buf_append(b, s + i, j - i);
            if (rc)
                return rc;
            i = j;
            continue;
        }
        uint32_t cp;
        int len = kb_utf8_decode(s + i, n - i, &cp);
        if (len < 0) {
            i++;
            continue;
        }
        int rc = kb_buf_append(b, s + i, (size_t)len);
        if (rc)
            return rc;
        i += (size_t)len;
    }
    return 0;
}

/* Output is never longer than input (code points are copied or dropped, a whitespace run becomes at
 * most one byte), so the buffer is grown once and written directly. */
static int norm_fold(struct kb_buf *out, const char *s, size_t n, bool keep_lines)
{
    size_t start_len = out->len;
    if (n == 0)
        return 0;
    int rc = kb_buf_append(out, s, n); /* reserves n bytes; overwritten below */
    if (rc)
        return rc;
    char *o = out->data + start_len;
    size_t w = 0;
    bool pending = false, pending_break = false, have_prev = false;
    uint32_t prev = 0;
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        uint32_t cp;
        int len;
        if (ch < 0x80) {
            cp = ch;
            len = 1;
        } else {
            len = kb_utf8_decode(s + i, n - i, &cp);
            if (len < 0) {
                i++;
                continue;
            }
        }
        const char *src = s + i;
        i += (size_t)len;
        if (keep_lines) {
            if (cp == '\r' || (cp != '\n' && cp != '\t' && norm_is_junk(cp)))
                continue;
            memcpy(o + w, src, (size_t)len);
            w += (size_t)len;
            continue;
        }
        if (cp == ' ' || (cp < 0x80 ? (cp >= '\t' && cp <= '\r') : norm_is_space(cp))) {
            pending = true;
            if (cp == '\n' || cp == '\r' || cp == 0x3000 || cp == 0x2028 || cp == 0x2029 || cp == 0x85)
                pending_break = true;
            continue;
        }
        if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && norm_is_junk(cp)))
            continue;
        if (pending && have_prev && !(pending_break && norm_is_cjk_like(prev) && norm_is_cjk_like(cp)))
            o[w++] = ' ';
        pending = pending_break = false;
        memcpy(o + w, src, (size_t)len);
        w += (size_t)len;
        prev = cp;
        have_prev = true;
    }
    if (keep_lines) {
        /* Trim trailing whitespace and leading blank lines. */
        while (w > 0 && (o[w - 1] == '\n' || o[w - 1] == ' ' || o[w - 1] == '\t'))
            w--;
        size_t lead = 0;
        while (lead < w && o[lead] == '\n')
            lead++;
        memmove(o, o + lead, w - lead);
        w -= lead;
    }
    out->len = start_len + w;
    out->data[out->len] = '\0';
    return 0;
}

/* True when NFC cannot change text made only of these code points: below U+0300 (the combining
 * marks start there), CJK ideographs, kana, hangul syllables, CJK and full-width punctuation, general
 * punctuation and currency signs. A combining mark or anything else sends the text through utf8proc. */
static bool norm_nfc_stable(uint32_t cp)
{
    return cp < 0x300 || (cp >= 0x2010 && cp <= 0x205F) || (cp >= 0x20A0 && cp <= 0x20CF) ||
           (cp >= 0x3000 && cp <= 0x3098) || (cp >= 0x309D && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xFF00 && cp <= 0xFFEF);
}

int norm_text(struct kb_buf *out, const char *s, size_t n, bool keep_lines)
{
    bool ascii = true;
    for (size_t i = 0; i < n && ascii; i++)
        ascii = (unsigned char)s[i] < 0x80;
    if (ascii)
        return norm_fold(out, s, n, keep_lines);

    bool stable = true;
    for (size_t i = 0; i < n && stable;) {
        uint32_t cp;
        int len = kb_utf8_decode(s + i, n - i, &cp);
        i += len > 0 ? (size_t)len : 1;
        stable = len > 0 && norm_nfc_stable(cp);
    }
    if (stable)
        return norm_fold(out, s, n, keep_lines);

    struct kb_buf valid;
    kb_buf_init(&valid, out->max_bytes);
    int rc = norm_valid_only(&valid, s, n);
    if (!rc && valid.len > 0) {
        utf8proc_uint8_t *nfc = NULL;
        utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)valid.data, (utf8proc_ssize_t)valid.len, &nfc,
                                          (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
        if (m >= 0) {
            rc = norm_fold(out, (const char *)nfc, (size_t)m, keep_lines);
        } else {
            rc = norm_fold(out, valid.data, valid.len, keep_lines); /* keep the text un-normalised */
        }
        free(nfc);
    }
    kb_buf_release(&valid);
    return rc;
}
