/* text/sentence.c: sentence boundaries (text/text.h says what a sentence is, and what the simple
 * rule of the sentence-evidence step leaves out).
 *
 * Data flow: one forward walk over code points from the sentence's start; under the full rule a
 * candidate terminator looks ahead over closing quotes and brackets, and a '.' looks back at the word
 * before it (to the previous white space or '(') to keep initials and abbreviations inside the
 * sentence. Invalid bytes
 * are single-byte U+FFFD, never terminators. No allocation; offsets are bytes into the caller's
 * text. Users: ingest/chunk.c (chunk pieces) and rag/ (answer sentences) take the full rule,
 * index/search.c (sentence evidence) the simple one. Tests: tests/text/test_text.c, tests/ingest/test_chunk.c. */
#include <string.h>
#include <strings.h>

#include "text/text.h"

/* 。！？； */
static bool sentence_is_cjk_mark(uint32_t cp)
{
    return cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF1B;
}

/* 。！？；｡… */
static bool sentence_is_cjk_stop(uint32_t cp)
{
    return sentence_is_cjk_mark(cp) || cp == 0xFF61 || cp == 0x2026;
}

/* " ' ) ] ” ’ 」 』 ） 】 */
static bool sentence_is_closer(uint32_t cp)
{
    return cp == '"' || cp == '\'' || cp == ')' || cp == ']' || cp == 0x201D || cp == 0x2019 || cp == 0x300D ||
           cp == 0x300F || cp == 0xFF09 || cp == 0x3011;
}

static bool sentence_is_space(char c)
{
    return c == ' ' || c == '\n';
}

/* True when the '.' at s[i] ends an initial or an abbreviation rather than a sentence ("etc." ends
 * one: it usually closes a list at the end of a sentence). */
static bool sentence_is_abbrev(const char *s, size_t i)
{
    static const char *const ab[] = {"mr", "mrs", "ms", "dr", "st", "vs", "e.g", "i.e", "no", "fig", "approx"};
    size_t w = i, len;
    bool found = false;
    while (w > 0 && !sentence_is_space(s[w - 1]) && s[w - 1] != '\t' && s[w - 1] != '(')
        w--;
    len = i - w;
    if (len == 1 && s[w] >= 'A' && s[w] <= 'Z')
        found = true; /* an initial: "J. Smith" */
    for (size_t a = 0; a < KB_ARRAY_LEN(ab) && !found; a++)
        found = len == strlen(ab[a]) && strncasecmp(s + w, ab[a], len) == 0;
    return found;
}

/* Past the code points at s[i..n) that `keep` accepts. */
static size_t sentence_skip(const char *s, size_t n, size_t i, bool (*keep)(uint32_t))
{
    while (i < n) {
        uint32_t cp;
        int len = kb_utf8_decode(s + i, n - i, &cp);
        if (len <= 0 || !keep(cp))
            break;
        i += (size_t)len;
    }
    return i;
}

static bool sentence_is_cjk_tail(uint32_t cp)
{
    return sentence_is_closer(cp) || sentence_is_cjk_stop(cp);
}

/* The walk both rules share: full adds the closers, the abbreviations, ｡ and … and the CJK tail. */
static size_t sentence_end(const char *s, size_t n, size_t start, bool full)
{
    size_t i = start, end = n;
    while (i < n && end == n) {
        uint32_t cp = (unsigned char)s[i];
        int len = cp < 0x80 ? 1 : kb_utf8_decode(s + i, n - i, &cp); /* ASCII without the decoder */
        size_t after = i + (len > 0 ? (size_t)len : 1);
        if (cp == '\n') {
            end = after;
        } else if (full ? sentence_is_cjk_stop(cp) : sentence_is_cjk_mark(cp)) {
            end = full ? sentence_skip(s, n, after, sentence_is_cjk_tail) : after;
        } else if (cp == '.' || cp == '!' || cp == '?' || cp == ';') {
            size_t j = full ? sentence_skip(s, n, after, sentence_is_closer) : after;
            if ((j >= n || sentence_is_space(s[j])) && !(full && cp == '.' && sentence_is_abbrev(s, i)))
                end = j;
        }
        i = after;
    }
    return end;
}

size_t text_sentence_end(const char *s, size_t n, size_t start)
{
    return sentence_end(s, n, start, true);
}

size_t text_sentence_end_simple(const char *s, size_t n, size_t start)
{
    return sentence_end(s, n, start, false);
}

static bool sentence_is_trim(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int text_split_sentences(const char *text, size_t n, struct text_span *out, int cap)
{
    size_t start = 0;
    int count = 0;
    while (start < n && count < cap) {
        size_t end = text_sentence_end(text, n, start), s = start, e = end;
        while (s < e && sentence_is_trim(text[s]))
            s++;
        while (e > s && sentence_is_trim(text[e - 1]))
            e--;
        if (e > s)
            out[count++] = (struct text_span){s, e};
        start = end;
    }
    return count;
}
