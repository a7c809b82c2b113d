/* ingest/parse_text.c: plain text (already UTF-8) into blocks.
 *
 * Paragraphs are separated by blank lines; lines inside a paragraph are joined (norm.c folds the
 * line breaks, without spaces between CJK characters). Structure is inferred conservatively:
 * - a paragraph that is one short line without closing punctuation is a heading of level 1 plus its
 *   numbering depth ("1." 2, "1.2" 3, "第一章" 2); a short unnumbered first line of the file is the
 *   document title (doc->title, kept as a paragraph, not a heading);
 *   a line underlined with === or --- is a level 1 or 2 heading;
 * - a line starting with a bullet (-, *, +, •, ·) or a number and ")" starts a list item;
 * - a line starting with a question or answer marker (Q:, A:, 问：, 答：) starts a new paragraph so
 *   doc_finish() can pair them into FAQ blocks.
 * Each block records its first source line. Tests: tests/ingest/test_text.c. */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>

struct tline {
    const char *s;
    size_t n;
    int no; /* 1-based line number */
};

static bool text_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f')
            return false;
    return true;
}

static size_t text_trim_left(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

/* Bytes of a bullet or "N)" / "(N)" marker plus its space at s, or 0. */
static size_t text_bullet(const char *s, size_t n)
{
    if (n >= 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && s[1] == ' ')
        return 2;
    if (n >= 3 && (memcmp(s, "\xE2\x80\xA2", 3) == 0 || memcmp(s, "\xC2\xB7", 2) == 0)) { /* • · */
        size_t k = memcmp(s, "\xC2\xB7", 2) == 0 ? 2 : 3;
        while (k < n && s[k] == ' ')
            k++;
        return k;
    }
    size_t i = 0;
    if (i < n && s[i] == '(')
        i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i - d < 3)
        i++;
    if (i > d && i + 1 < n && s[i] == ')' && s[i + 1] == ' ')
        return i + 2;
    return 0;
}

/* Numbering depth of a heading line: "1." or "1 " 1, "1.2" 2, "第…" 1, "一、" 1; 0 none. */
static int text_number_depth(const char *s, size_t n)
{
    int depth = 0;
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        depth++;
        if (i < n && s[i] == '.' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')
            i++;
        else
            break;
    }
    if (depth)
        return depth;
    if (n > 3 && memcmp(s, "\xE7\xAC\xAC", 3) == 0) /* 第 */
        return 1;
    /* 一、 二、 ... 十、: a Chinese numeral and the enumeration comma */
    static const char *const nums[] = {"一", "二", "三", "四", "五", "六", "七", "八", "九", "十"};
    size_t k = 0;
    for (bool more = true; more && k < 9;) {
        more = false;
        for (size_t q = 0; q < KB_ARRAY_LEN(nums); q++)
            if (n >= k + 3 && memcmp(s + k, nums[q], 3) == 0) {
                k += 3;
                more = true;
                break;
            }
    }
    if (k > 0 && n > k + 3 && memcmp(s + k, "、", 3) == 0)
        return 1;
    return 0;
}

/* Closing punctuation that marks a sentence rather than a title. */
static bool text_ends_sentence(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    if (n == 0)
        return true;
    char c = s[n - 1];
    if (c == '.' || c == '!' || c == '?' || c == ',' || c == ';' || c == ':')
        return true;
    static const char *const cjk[] = {"\xE3\x80\x82", "\xEF\xBC\x81", "\xEF\xBC\x9F", "\xEF\xBC\x8C",
                                      "\xEF\xBC\x9B", "\xEF\xBC\x9A", "\xE3\x80\x81"}; /* 。！？，；：、 */
    for (size_t i = 0; i < KB_ARRAY_LEN(cjk); i++)
        if (n >= 3 && memcmp(s + n - 3, cjk[i], 3) == 0)
            return true;
    return false;
}

static bool text_is_underline(const char *s, size_t n, char ch)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ch)
            k++;
        else if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    }
    return k >= 3;
}

static size_t text_cps(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* Emits one paragraph made of lines[0..n). */
static int text_paragraph(struct ingest_ctx *c, const struct tline *lines, size_t n, bool first_para)
{
    int rc = 0;
    struct kb_buf b;
    kb_buf_init(&b, c->max_parse_bytes);
    size_t i = 0;
    /* Title or heading: a short single line without closing punctuation. */
    const char *s0 = lines[0].s + text_trim_left(lines[0].s, lines[0].n);
    size_t n0 = lines[0].n - (size_t)(s0 - lines[0].s);
    struct ingest_loc loc = {.line = lines[0].no};
    bool short_line = text_cps(s0, n0) <= 80 && !text_ends_sentence(s0, n0) && !text_bullet(s0, n0) &&
                      !doc_q_marker(s0, n0) && !doc_a_marker(s0, n0);
    if (n >= 2 && (text_is_underline(lines[1].s, lines[1].n, '=') || text_is_underline(lines[1].s, lines[1].n, '-'))) {
        rc = doc_add(c, INGEST_BLOCK_HEADING, lines[1].s[text_trim_left(lines[1].s, lines[1].n)] == '=' ? 1 : 2, s0,
                     n0, &loc);
        i = 2;
    } else if (short_line && first_para && lines[0].no == 1 && text_number_depth(s0, n0) == 0) {
        /* The document's title line: kept as text and as doc->title, but not as a heading, so
         * section paths read "3. Probation" rather than repeating the title everywhere. */
        rc = doc_add(c, INGEST_BLOCK_PARAGRAPH, 0, s0, n0, &loc);
        if (!rc && c->doc->n_blocks > 0)
            c->doc->title = c->doc->blocks[c->doc->n_blocks - 1].text;
        i = 1;
    } else if (short_line && n == 1) {
        int depth = text_number_depth(s0, n0);
        rc = doc_add(c, INGEST_BLOCK_HEADING, KB_MIN(1 + KB_MAX(depth, 1), 9), s0, n0, &loc);
        i = 1;
    }
    enum ingest_block_kind kind = INGEST_BLOCK_PARAGRAPH;
    int start_line = 0;
    for (; i < n && !rc; i++) {
        const char *s = lines[i].s + text_trim_left(lines[i].s, lines[i].n);
        size_t m = lines[i].n - (size_t)(s - lines[i].s);
        size_t bl = text_bullet(s, m);
        bool starts = bl || doc_q_marker(s, m) || doc_a_marker(s, m);
        if (starts && b.len > 0) {
            struct ingest_loc l = {.line = start_line};
            rc = doc_add(c, kind, kind == INGEST_BLOCK_LIST_ITEM ? 1 : 0, b.data, b.len, &l);
            kb_buf_reset(&b);
        }
        if (b.len == 0) {
            start_line = lines[i].no;
            kind = bl ? INGEST_BLOCK_LIST_ITEM : INGEST_BLOCK_PARAGRAPH;
            s += bl;
            m -= bl;
        }
        rc = rc ? rc : kb_buf_append(&b, s, m);
        rc = rc ? rc : kb_buf_putc(&b, '\n');
    }
    if (!rc && b.len > 0) {
        struct ingest_loc l = {.line = start_line};
        rc = doc_add(c, kind, kind == INGEST_BLOCK_LIST_ITEM ? 1 : 0, b.data, b.len, &l);
    }
    if (rc == KB_ETOOBIG && (!c->err || c->err->code == 0))
        rc = kb_error_set(c->err, rc, "cannot parse '%s': text passes ingest.max_parse_bytes", c->name);
    kb_buf_release(&b);
    return rc;
}

int parse_text(struct ingest_ctx *c, const char *s, size_t n)
{
    struct tline *lines = NULL;
    size_t n_lines = 0, cap = 0;
    int rc = 0, no = 0;
    bool first_para = true;
    size_t pos = 0;
    while (pos <= n && !rc) {
        const char *nl = pos < n ? memchr(s + pos, '\n', n - pos) : NULL;
        size_t end = nl ? (size_t)(nl - s) : n;
        no++;
        bool blank = text_blank(s + pos, end - pos);
        if (!blank) {
            if (n_lines == cap) {
                cap = cap ? cap * 2 : 64;
                struct tline *nlns = kb_try_realloc(lines, cap, sizeof *nlns);
                if (!nlns) {
                    rc = kb_error_set(c->err, KB_ENOMEM, "cannot parse '%s': out of memory", c->name);
                    break;
                }
                lines = nlns;
            }
            lines[n_lines++] = (struct tline){s + pos, end - pos, no};
        }
        if ((blank || !nl) && n_lines > 0) {
            rc = text_paragraph(c, lines, n_lines, first_para);
            first_para = false;
            n_lines = 0;
            if (!rc && (no & 1023) == 0)
                rc = ctx_check_time(c);
        }
        if (!nl)
            break;
        pos = end + 1;
    }
    free(lines);
    return rc;
}
