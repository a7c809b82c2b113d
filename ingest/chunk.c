/* ingest/chunk.c: structure-aware chunking of a parsed document, and the token estimate.
 *
 * Flow: walk the blocks once, keeping a heading stack (levels 1..9) whose titles joined by " > "
 * are the current heading path. Paragraphs and list items are cut into pieces (sentences as text/
 * defines them, text_sentence_end) that collect in a pending run; a heading, table, FAQ or code
 * block, or the end, flushes the run: pieces are packed greedily up to the target, each next chunk starts with whole
 * trailing sentences of the previous one worth up to overlap*target tokens, and a tiny trailing chunk
 * (under a quarter of the target) folds into the one before. A run that is tiny (under 1/8 of the
 * target) when its section ends is carried into the next section (not past a level-1 heading: a new
 * chapter, slide or sheet, unless it is a preamble before any heading), with that section's heading as a
 * line marked as Markdown marks it ("## 2. Warranty", one '#' per level, so neither a reader, a
 * generative model nor the extractive answerer takes it for a sentence of the text), under their
 * common heading path (the next section's path for a preamble before any heading).
 * Tables pack whole rows with the header line on top of every chunk; a tiny lead-in paragraph of the
 * same section goes on top of the first table chunk as its caption. A FAQ block is always exactly one
 * chunk; code splits at line ends only when it
 * is more than 1.5 targets. Chunk texts live in the document's arena; the chunk array is malloc'd.
 * Pages: while a chunk's text is built, the page of each piece's first byte and every block page mark
 * inside it are recorded at their byte offset in the chunk text; page_first is the page of text[0],
 * page_last the largest, page_map the later changes as "off:page,..." (index_page_at reads it).
 * Pure function of (blocks, target, overlap): deterministic. Tests: tests/ingest/test_chunk.c,
 * test_pdf_pages.c. */
#include "ingest/ingest_int.h"
#include "text/text.h"

#include <stdlib.h>
#include <string.h>

int ingest_estimate_tokens(const char *s, size_t n)
{
    long t10 = 0;
    size_t word_len = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) { /* ASCII fast path */
            i++;
            if ((unsigned)((ch | 32) - 'a') < 26u || (unsigned)(ch - '0') < 10u) {
                t10 += word_len == 0 ? 13 : (word_len >= 8 ? 3 : 0);
                word_len++;
            } else {
                word_len = 0;
                t10 += ch > ' ' ? 5 : 0;
            }
            continue;
        }
        int len = kb_utf8_decode(s + i, n - i, &cp);
        i += len > 0 ? (size_t)len : 1;
        if (len < 0)
            continue;
        bool alnum = (cp < 0x80 && ((cp | 32) - 'a' < 26 || cp - '0' < 10)) || (cp >= 0xC0 && !norm_is_cjk_like(cp));
        if (alnum) {
            t10 += word_len == 0 ? 13 : (word_len >= 8 ? 3 : 0);
            word_len++;
        } else {
            word_len = 0;
            if (norm_is_cjk_like(cp))
                t10 += 10;
            else if (cp > ' ')
                t10 += 5;
        }
    }
    long t = (t10 + 9) / 10;
    return t > INT32_MAX ? INT32_MAX : (int)t;
}

struct piece {
    size_t block;      /* index into doc->blocks */
    size_t start, end; /* byte range inside that block's text */
    int tokens;
};

struct chunker {
    struct ingest_doc *doc;
    int target;         /* tokens */
    int overlap_tokens; /* tokens of trailing sentences repeated */
    struct kb_error *err;
    const char *stack[10]; /* heading text per level 1..9; borrowed from blocks */
    const char *path;      /* current heading path; arena */
    struct piece *pend;    /* pending prose run */
    size_t n_pend, cap_pend;
    const char *pend_path; /* heading path of the pending run */
    int carried_tokens;    /* tokens carried over section boundaries in the pending run */
    size_t cap_out;
    struct ingest_page_mark *marks; /* pages of the chunk being built, off = byte in its text */
    size_t n_marks, cap_marks;
};

static int chunk_oom(struct chunker *k)
{
    return kb_error_set(k->err, KB_ETOOBIG, "cannot chunk '%s': chunks pass ingest.max_parse_bytes", k->doc->name);
}

/* Makes room for one more element in *arr (n used of *cap, elem bytes each). */
static int chunk_grow(struct chunker *k, void **arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    void *na = kb_try_realloc(*arr, nc, elem);
    if (!na)
        return kb_error_set(k->err, KB_ENOMEM, "cannot chunk '%s': out of memory", k->doc->name);
    *arr = na;
    *cap = nc;
    return 0;
}

static int chunk_push_piece(struct chunker *k, struct piece p)
{
    int rc = chunk_grow(k, (void **)&k->pend, k->n_pend, &k->cap_pend, sizeof p);
    if (!rc)
        k->pend[k->n_pend++] = p;
    return rc;
}

static struct ingest_chunk *chunk_new(struct chunker *k, enum ingest_chunk_kind kind, const char *path)
{
    struct ingest_doc *d = k->doc;
    if (d->n_chunks == k->cap_out) {
        size_t nc = k->cap_out ? k->cap_out * 2 : 32;
        struct ingest_chunk *nv = kb_try_realloc(d->chunks, nc, sizeof *nv);
        if (!nv) {
            kb_error_set(k->err, KB_ENOMEM, "cannot chunk '%s': out of memory", d->name);
            return NULL;
        }
        d->chunks = nv;
        k->cap_out = nc;
    }
    struct ingest_chunk *c = &d->chunks[d->n_chunks++];
    memset(c, 0, sizeof *c);
    k->n_marks = 0;
    c->kind = kind;
    c->heading_path = path ? path : "";
    return c;
}

static void chunk_range(int *lo, int *hi, int v)
{
    if (v <= 0)
        return;
    if (*lo == 0 || v < *lo)
        *lo = v;
    if (v > *hi)
        *hi = v;
}

/* Widens c's locations and block span to include block bi. */
static void chunk_cover(struct chunker *k, struct ingest_chunk *c, size_t bi)
{
    const struct ingest_block *b = &k->doc->blocks[bi];
    chunk_range(&c->page_first, &c->page_last, b->loc.page);
    chunk_range(&c->slide_first, &c->slide_last, b->loc.slide);
    chunk_range(&c->row_first, &c->row_last, b->loc.row);
    chunk_range(&c->line_first, &c->line_last, b->loc.line);
    if (!c->sheet)
        c->sheet = b->loc.sheet;
    if (c->n_blocks == 0) {
        c->first_block = bi;
        c->n_blocks = 1;
    } else if (bi >= c->first_block + c->n_blocks) {
        c->n_blocks = bi - c->first_block + 1;
    }
}

/* Page of byte off of block b's text. */
static int chunk_block_page(const struct ingest_block *b, size_t off)
{
    int page = b->loc.page;
    for (size_t i = 0; i < b->n_page_marks && b->page_marks[i].off <= off; i++)
        page = b->page_marks[i].page;
    return page;
}

/* Records that the chunk text is on page from byte off on: nothing when it already is, a change at
 * the same byte replaces the last one. */
static int chunk_push_mark(struct chunker *k, size_t off, int page)
{
    struct ingest_page_mark *last = k->n_marks ? &k->marks[k->n_marks - 1] : NULL;
    int rc = 0;
    if (page <= 0 || (last && last->page == page)) {
        /* no page, or no change */
    } else if (last && last->off == off) {
        last->page = page;
    } else if (!(rc = chunk_grow(k, (void **)&k->marks, k->n_marks, &k->cap_marks, sizeof *k->marks))) {
        k->marks[k->n_marks++] = (struct ingest_page_mark){off, page};
    }
    return rc;
}

/* Records the pages of block b's text [start, end), which the chunk text being built holds from
 * byte pos on. */
static int chunk_mark(struct chunker *k, size_t pos, const struct ingest_block *b, size_t start, size_t end)
{
    int rc = chunk_push_mark(k, pos, chunk_block_page(b, start));
    for (size_t i = 0; i < b->n_page_marks && !rc; i++)
        if (b->page_marks[i].off > start && b->page_marks[i].off < end)
            rc = chunk_push_mark(k, pos + b->page_marks[i].off - start, b->page_marks[i].page);
    return rc;
}

/* Sets c's text, and its pages from the marks recorded while it was built: page_first is the page
 * of text[0], page_last the largest, page_map the changes after the first. */
static int chunk_set_text(struct chunker *k, struct ingest_chunk *c, const char *s, size_t n)
{
    char *t = kb_arena_strndup(&k->doc->arena, s, n);
    int rc = t ? 0 : chunk_oom(k);
    struct kb_buf map;
    kb_buf_init(&map, 0);
    c->page_map = "";
    if (!rc && k->n_marks) {
        c->page_first = c->page_last = k->marks[0].page;
        for (size_t i = 1; i < k->n_marks && !rc; i++) {
            c->page_last = KB_MAX(c->page_last, k->marks[i].page);
            rc = kb_buf_printf(&map, "%s%zu:%d", i > 1 ? "," : "", k->marks[i].off, k->marks[i].page);
        }
        c->page_map = rc || !map.len ? "" : kb_arena_strndup(&k->doc->arena, map.data, map.len);
        rc = rc || !c->page_map ? chunk_oom(k) : 0;
    }
    kb_buf_release(&map);
    k->n_marks = 0;
    if (!rc) {
        c->text = t;
        c->text_bytes = n;
        c->n_tokens = ingest_estimate_tokens(t, n);
    }
    return rc;
}

/* Appends pieces pend[a..b) to t (sentences of one block keep their separator, blocks are joined
 * by "\n") and widens c over their blocks and byte range. */
static int chunk_join(struct chunker *k, size_t a, size_t b, struct kb_buf *t, struct ingest_chunk *c)
{
    struct ingest_doc *d = k->doc;
    int rc = 0;
    for (size_t i = a; i < b && !rc; i++) {
        const struct piece *p = &k->pend[i];
        const struct ingest_block *blk = &d->blocks[p->block];
        if (i > a) {
            if (p->block != k->pend[i - 1].block) {
                rc = kb_buf_putc(t, '\n');
            } else { /* adjacent sentences of one block: keep the original separator */
                const struct piece *q = &k->pend[i - 1];
                if (p->start > q->end)
                    rc = kb_buf_append(t, blk->text + q->end, p->start - q->end);
            }
        }
        rc = rc ? rc : chunk_mark(k, t->len, blk, p->start, p->end);
        for (int l = 0; blk->kind == INGEST_BLOCK_HEADING && l < KB_MIN(KB_MAX(blk->level, 1), 9) && !rc; l++)
            rc = kb_buf_putc(t, '#'); /* a heading line inside a chunk, marked as Markdown marks it */
        rc = rc || blk->kind != INGEST_BLOCK_HEADING ? rc : kb_buf_putc(t, ' ');
        rc = rc ? rc : kb_buf_append(t, blk->text + p->start, p->end - p->start);
        chunk_cover(k, c, p->block);
    }
    const struct piece *pa = &k->pend[a], *pb = &k->pend[b - 1];
    c->off_start = d->blocks[pa->block].off_start + pa->start;
    c->off_end = d->blocks[pb->block].off_start + pb->end;
    return rc;
}

/* Emits pieces pend[a..b) as one prose chunk. */
static int chunk_emit_prose(struct chunker *k, size_t a, size_t b)
{
    struct ingest_chunk *c = chunk_new(k, INGEST_CHUNK_PROSE, k->pend_path);
    if (!c)
        return KB_ENOMEM;
    struct kb_buf t;
    kb_buf_init(&t, 0);
    int rc = chunk_join(k, a, b, &t, c);
    rc = rc ? chunk_oom(k) : chunk_set_text(k, c, t.data ? t.data : "", t.len);
    kb_buf_release(&t);
    return rc;
}

static int chunk_sum(const struct piece *p, size_t a, size_t b)
{
    long s = 0;
    for (size_t i = a; i < b; i++)
        s += p[i].tokens;
    return s > INT32_MAX ? INT32_MAX : (int)s;
}

/* Packs the pending run into chunks. */
static int chunk_flush(struct chunker *k)
{
    size_t m = k->n_pend;
    if (m == 0)
        return 0;
    const struct piece *p = k->pend;
    /* Plan ranges first so a tiny tail can fold into the range before it. */
    size_t *ra = kb_try_malloc(m, sizeof(size_t)), *rb = kb_try_malloc(m, sizeof(size_t));
    if (!ra || !rb) {
        free(ra);
        free(rb);
        return kb_error_set(k->err, KB_ENOMEM, "cannot chunk '%s': out of memory", k->doc->name);
    }
    size_t nr = 0, i = 0;
    while (i < m) {
        size_t j = i;
        int tok = 0;
        while (j < m && (j == i || tok + p[j].tokens <= k->target)) {
            tok += p[j].tokens;
            j++;
        }
        ra[nr] = i;
        rb[nr] = j;
        nr++;
        if (j >= m)
            break;
        size_t s = j;
        int ov = 0;
        while (s - 1 > i && ov + p[s - 1].tokens <= k->overlap_tokens) {
            s--;
            ov += p[s].tokens;
        }
        i = s;
    }
    if (nr >= 2) {
        size_t last = nr - 1;
        int fresh = chunk_sum(p, rb[last - 1], rb[last]);
        int prev = chunk_sum(p, ra[last - 1], rb[last - 1]);
        if (fresh * 4 < k->target && prev + fresh <= k->target + k->target / 4) {
            rb[last - 1] = rb[last];
            nr--;
        }
    }
    int rc = 0;
    for (size_t r = 0; r < nr && !rc; r++)
        rc = chunk_emit_prose(k, ra[r], rb[r]);
    free(ra);
    free(rb);
    k->n_pend = 0;
    k->carried_tokens = 0;
    k->pend_path = NULL;
    return rc;
}

/* Cuts a piece longer than the target at word (or CJK character) boundaries. */
static int chunk_hard_split(struct chunker *k, size_t bi, size_t start, size_t end)
{
    const char *s = k->doc->blocks[bi].text;
    size_t a = start, last_cut = start;
    int rc = 0;
    for (size_t i = start; i < end && !rc;) {
        uint32_t cp;
        int len = kb_utf8_decode(s + i, end - i, &cp);
        size_t step = len > 0 ? (size_t)len : 1;
        if (cp == ' ' || norm_is_cjk_like(cp))
            last_cut = cp == ' ' ? i : i + step;
        i += step;
        if (ingest_estimate_tokens(s + a, i - a) > k->target) {
            size_t cut = last_cut > a ? last_cut : i;
            rc = chunk_push_piece(k, (struct piece){bi, a, cut, ingest_estimate_tokens(s + a, cut - a)});
            a = cut;
            while (a < end && s[a] == ' ')
                a++;
            last_cut = a;
            i = KB_MAX(i, a);
        }
    }
    if (!rc && a < end)
        rc = chunk_push_piece(k, (struct piece){bi, a, end, ingest_estimate_tokens(s + a, end - a)});
    return rc;
}

static int chunk_add_sentence(struct chunker *k, size_t bi, size_t a, size_t b)
{
    const char *s = k->doc->blocks[bi].text;
    while (a < b && s[a] == ' ')
        a++;
    while (b > a && s[b - 1] == ' ')
        b--;
    if (a >= b)
        return 0;
    int tok = ingest_estimate_tokens(s + a, b - a);
    if (tok > k->target)
        return chunk_hard_split(k, bi, a, b);
    return chunk_push_piece(k, (struct piece){bi, a, b, tok});
}

/* Splits block bi into sentences (text_sentence_end) appended to the pending run. */
static int chunk_sentences(struct chunker *k, size_t bi)
{
    const struct ingest_block *blk = &k->doc->blocks[bi];
    size_t n = blk->text_bytes, start = 0;
    int rc = 0;
    while (start < n && !rc) {
        size_t end = text_sentence_end(blk->text, n, start);
        rc = chunk_add_sentence(k, bi, start, end);
        start = end;
    }
    return rc;
}

static const char *chunk_make_path(struct chunker *k)
{
    struct kb_buf b;
    kb_buf_init(&b, 0);
    int rc = 0;
    for (int l = 1; l <= 9 && !rc; l++)
        if (k->stack[l])
            rc = kb_buf_printf(&b, "%s%s", b.len ? " > " : "", k->stack[l]);
    const char *p = rc ? NULL : kb_arena_strndup(&k->doc->arena, b.data ? b.data : "", b.len);
    kb_buf_release(&b);
    return p;
}

/* The path for a run spanning sections a then b: b when a is the top level (a preamble such as a
 * title line), else their longest common prefix at " > " component boundaries. */
static const char *chunk_common_path(struct chunker *k, const char *a, const char *b)
{
    size_t n = 0, last = 0;
    while (a[n] && a[n] == b[n]) {
        n++;
        if (strncmp(a + n, " > ", 3) == 0 && strncmp(b + n, " > ", 3) == 0)
            last = n;
    }
    if (a[0] == '\0')
        return b; /* a preamble before the first heading (a title line) belongs with what follows */
    if (a[n] == '\0' && (b[n] == '\0' || strncmp(b + n, " > ", 3) == 0))
        return a;
    if (b[n] == '\0' && strncmp(a + n, " > ", 3) == 0)
        return b;
    return kb_arena_strndup(&k->doc->arena, a, last);
}

static int chunk_heading(struct chunker *k, size_t bi)
{
    const struct ingest_block *b = &k->doc->blocks[bi];
    int level = KB_MIN(KB_MAX(b->level, 1), 9);
    int rc = 0;
    bool carry = false;
    if (k->n_pend > 0) {
        int tok = chunk_sum(k->pend, 0, k->n_pend);
        /* Top-level headings (chapters, slides, sheets) stop carrying, except for a preamble. */
        carry = tok * 8 < k->target && k->carried_tokens + tok < k->target / 2 &&
                (level > 1 || (k->pend_path && k->pend_path[0] == '\0'));
        if (!carry)
            rc = chunk_flush(k);
    }
    k->stack[level] = b->text;
    for (int l = level + 1; l <= 9; l++)
        k->stack[l] = NULL;
    k->path = chunk_make_path(k);
    if (!k->path)
        return chunk_oom(k);
    if (!rc && carry) {
        k->carried_tokens = chunk_sum(k->pend, 0, k->n_pend);
        rc = chunk_push_piece(k, (struct piece){bi, 0, b->text_bytes, ingest_estimate_tokens(b->text, b->text_bytes)});
        k->pend_path = chunk_common_path(k, k->pend_path, k->path);
        if (!k->pend_path)
            rc = chunk_oom(k);
    }
    return rc;
}

/* True when the pending prose is a tiny lead-in of the same section ("The zones are:"), which then
 * goes on top of the table's first chunk instead of standing alone. */
static bool chunk_is_caption(const struct chunker *k)
{
    return k->n_pend > 0 && k->carried_tokens == 0 && k->pend_path && strcmp(k->pend_path, k->path) == 0 &&
           chunk_sum(k->pend, 0, k->n_pend) * 8 < k->target;
}

/* Emits the table starting at block *bi (consecutive rows of the same table), with the pending run
 * as its caption when chunk_is_caption(), else after flushing it; advances *bi. */
static int chunk_table(struct chunker *k, size_t *bi)
{
    bool caption = chunk_is_caption(k);
    if (!caption) {
        int frc = chunk_flush(k);
        if (frc)
            return frc;
    }
    struct ingest_doc *d = k->doc;
    size_t i = *bi;
    int id = d->blocks[i].table;
    const char *header = d->blocks[i].header;
    int htok = header ? ingest_estimate_tokens(header, strlen(header)) : 0;
    int rc = 0;
    struct kb_buf t;
    kb_buf_init(&t, 0);
    while (!rc && i < d->n_blocks && d->blocks[i].kind == INGEST_BLOCK_TABLE_ROW && d->blocks[i].table == id) {
        struct ingest_chunk *c = chunk_new(k, INGEST_CHUNK_TABLE, k->path);
        if (!c) {
            rc = KB_ENOMEM;
            break;
        }
        kb_buf_reset(&t);
        int tok = htok;
        c->off_start = d->blocks[i].off_start;
        if (caption) {
            tok += chunk_sum(k->pend, 0, k->n_pend);
            rc = chunk_join(k, 0, k->n_pend, &t, c);
            rc = rc ? rc : kb_buf_putc(&t, '\n');
            k->n_pend = 0;
            k->pend_path = NULL;
            caption = false;
        }
        size_t head_pos = t.len; /* the header line takes the page of the chunk's first row */
        if (header && !rc)
            rc = kb_buf_puts(&t, header);
        size_t first = i;
        while (!rc && i < d->n_blocks && d->blocks[i].kind == INGEST_BLOCK_TABLE_ROW && d->blocks[i].table == id) {
            const struct ingest_block *b = &d->blocks[i];
            int rt = ingest_estimate_tokens(b->text, b->text_bytes);
            if (i > first && tok + rt > k->target)
                break;
            if (t.len && t.data[t.len - 1] != '\n')
                rc = kb_buf_putc(&t, '\n');
            rc = rc ? rc : chunk_mark(k, i == first ? head_pos : t.len, b, 0, b->text_bytes);
            rc = rc ? rc : kb_buf_append(&t, b->text, b->text_bytes);
            tok += rt;
            chunk_cover(k, c, i);
            c->off_end = b->off_end;
            i++;
        }
        rc = rc ? chunk_oom(k) : chunk_set_text(k, c, t.data, t.len);
    }
    kb_buf_release(&t);
    *bi = i;
    return rc;
}

static int chunk_faq(struct chunker *k, size_t bi)
{
    const struct ingest_block *b = &k->doc->blocks[bi];
    struct ingest_chunk *c = chunk_new(k, INGEST_CHUNK_FAQ, k->path);
    if (!c)
        return KB_ENOMEM;
    chunk_cover(k, c, bi);
    c->off_start = b->off_start;
    c->off_end = b->off_end;
    int mrc = chunk_mark(k, 0, b, 0, b->text_bytes);
    if (mrc)
        return mrc;
    struct kb_buf t;
    kb_buf_init(&t, 0);
    int rc = kb_buf_printf(&t, "Q: %s\nA: %s", b->text, b->answer ? b->answer : "");
    rc = rc ? chunk_oom(k) : chunk_set_text(k, c, t.data, t.len);
    kb_buf_release(&t);
    return rc;
}

static int chunk_code(struct chunker *k, size_t bi)
{
    const struct ingest_block *b = &k->doc->blocks[bi];
    int tok = ingest_estimate_tokens(b->text, b->text_bytes);
    size_t a = 0;
    int rc = 0;
    while (!rc && a < b->text_bytes) {
        size_t e = b->text_bytes;
        if (tok > k->target + k->target / 2) { /* cut at the last line end that keeps it under target */
            size_t best = 0;
            for (size_t i = a; i < b->text_bytes; i++) {
                if (b->text[i] != '\n')
                    continue;
                if (ingest_estimate_tokens(b->text + a, i - a) > k->target)
                    break;
                best = i + 1;
            }
            if (best > a)
                e = best;
            else {
                const char *nl = memchr(b->text + a, '\n', b->text_bytes - a);
                e = nl ? (size_t)(nl - b->text) + 1 : b->text_bytes;
            }
        }
        struct ingest_chunk *c = chunk_new(k, INGEST_CHUNK_CODE, k->path);
        if (!c)
            return KB_ENOMEM;
        chunk_cover(k, c, bi);
        c->off_start = b->off_start + a;
        c->off_end = b->off_start + e;
        size_t te = e;
        while (te > a && b->text[te - 1] == '\n')
            te--;
        rc = chunk_mark(k, 0, b, a, te);
        rc = rc ? rc : chunk_set_text(k, c, b->text + a, te - a);
        a = e;
    }
    return rc;
}

int ingest_chunk_with(struct ingest_doc *doc, int target_tokens, double overlap, struct kb_error *err)
{
    struct chunker k = {0};
    k.doc = doc;
    k.target = KB_MAX(target_tokens, 8);
    k.overlap_tokens = (int)(KB_MIN(KB_MAX(overlap, 0.0), 0.5) * k.target);
    k.err = err;
    k.path = "";
    free(doc->chunks);
    doc->chunks = NULL;
    doc->n_chunks = 0;
    int rc = 0;
    for (size_t i = 0; i < doc->n_blocks && !rc;) {
        const struct ingest_block *b = &doc->blocks[i];
        switch (b->kind) {
        case INGEST_BLOCK_HEADING:
            rc = chunk_heading(&k, i++);
            break;
        case INGEST_BLOCK_PARAGRAPH:
        case INGEST_BLOCK_LIST_ITEM:
            if (k.n_pend == 0)
                k.pend_path = k.path;
            rc = chunk_sentences(&k, i++);
            break;
        case INGEST_BLOCK_TABLE_ROW:
            rc = chunk_table(&k, &i);
            break;
        case INGEST_BLOCK_FAQ:
            rc = chunk_flush(&k);
            rc = rc ? rc : chunk_faq(&k, i++);
            break;
        case INGEST_BLOCK_CODE:
            rc = chunk_flush(&k);
            rc = rc ? rc : chunk_code(&k, i++);
            break;
        default:
            i++;
            break;
        }
    }
    if (!rc)
        rc = chunk_flush(&k);
    free(k.pend);
    free(k.marks);
    if (rc) {
        free(doc->chunks);
        doc->chunks = NULL;
        doc->n_chunks = 0;
    }
    return rc;
}

int ingest_chunk(const struct config *cfg, struct ingest_doc *doc, struct kb_error *err)
{
    return ingest_chunk_with(doc, (int)cfg->ingest_chunk_tokens, cfg->ingest_chunk_overlap, err);
}
