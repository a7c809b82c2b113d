/* rag/curated.c: curated answers, the FAQ editor's entries: a question, its similar questions and
 * an answer (with optional cited documents) in a collection, versioned, with a use counter.
 *
 * Storage: the entries and every version of them live in the store's curated tables
 * (index/store_curated.c), the source of truth. Each entry is also written as one hidden document
 * (mime INDEX_CURATED_MIME, path "curated:<id>", left out of rag_documents_list) holding one chunk
 *   "Q: question\nQ: similar 1\nQ: similar 2\nA: answer"
 * so that BM25 and the vectors find it with no search code of its own, and rag/answer.c's FAQ path
 * (answer_split_pair; the best match of the question and its similar questions) answers with it.
 * rag_ask then calls rag_curated_mark: a "faq" answer whose cited document is a curated entry's
 * becomes mode "curated" with the entry's id and the version its document holds, and counts a use;
 * the documents the entry cites (optional) follow its own passage as citations [2], [3]...
 * Writes go entry rows first, then the document (curated_write_doc); rag_open runs
 * rag_curated_sync, which rewrites the documents that lag their entry and deletes the hidden
 * documents whose entry is gone, so a crash between the two writes heals at the next open.
 *
 * Import/export: a table with the columns question, similar_questions, answer (header row first,
 * any column order, other columns ignored); similar questions in one cell separated by newlines or
 * "|" (export writes newlines). CSV is RFC 4180 (curated_csv_parse, a parser of untrusted bytes:
 * fuzz/fuzz_curated_csv.c); XLSX goes through ingest's sheet reader and writer (ingest/sheet.c).
 * Customers' words reach these cells (the review inbox makes their questions curated questions and
 * similar questions), so a CSV cell that a spreadsheet would run as a formula (starting with = + -
 * @, tab or CR) is exported behind an apostrophe, which a CSV import removes again: the export
 * round-trips. XLSX cells are written as strings, never formulas.
 * An import is validated whole before anything is written and then written in one transaction
 * (index_curated_put), so a bad row ("row 3: the answer is empty") imports nothing.
 *
 * Allocation: results are owned by the caller's structs; scratch is per call. Threads: every
 * function is thread-safe (the store locks); two concurrent edits of one entry both become versions.
 * Tests: tests/rag/test_curated.c, tests/web/test_faq.c, tests/cli/test_faq_cli.c. */
#include "rag/rag_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURATED_PATH_PREFIX "curated:"
#define CURATED_IMPORT_ROWS_MAX 100000
#define CURATED_CSV_COLS_MAX 64
#define CURATED_CITATIONS_MAX 32

/* ---- entries: validation and conversion ----------------------------------------------------------- */

/* A question as stored: trimmed, one line (newlines and tabs become spaces). Caller frees. */
static char *curated_clean_line(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *out = kb_xstrndup(s ? s : "", n);
    size_t a = 0;
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\n' || out[i] == '\r' || out[i] == '\t')
            out[i] = ' ';
    while (out[a] == ' ')
        a++;
    memmove(out, out + a, n - a + 1);
    n -= a;
    while (n && out[n - 1] == ' ')
        out[--n] = '\0';
    return out;
}

/* The index row of an input: cleaned strings in owned[0..3) (question, similar lines, answer) and
 * citations in cites. KB_EINVAL naming the field that is wrong. */
static int curated_row(struct rag *r, const struct rag_curated_input *in, struct index_curated *row, char *owned[4],
                       struct kb_error *err)
{
    struct kb_buf sim, cites;
    int rc = 0;
    size_t an;
    memset(row, 0, sizeof *row);
    owned[0] = curated_clean_line(in->question);
    owned[3] = NULL;
    kb_buf_init(&sim, 0);
    kb_buf_init(&cites, 0);
    /* the answer keeps its lines; only its ends are trimmed */
    {
        const char *a = in->answer ? in->answer : "";
        while (*a == ' ' || *a == '\n' || *a == '\r' || *a == '\t')
            a++;
        an = strlen(a);
        while (an && (a[an - 1] == ' ' || a[an - 1] == '\n' || a[an - 1] == '\r' || a[an - 1] == '\t'))
            an--;
        owned[2] = kb_xstrndup(a, an);
    }
    if (!owned[0][0])
        rc = kb_error_set(err, KB_EINVAL, "question is empty");
    else if (strlen(owned[0]) > RAG_CURATED_QUESTION_MAX)
        rc = kb_error_set(err, KB_EINVAL, "question is longer than %d bytes", RAG_CURATED_QUESTION_MAX);
    else if (!owned[2][0])
        rc = kb_error_set(err, KB_EINVAL, "answer is empty");
    else if (an > RAG_CURATED_ANSWER_MAX)
        rc = kb_error_set(err, KB_EINVAL, "answer is longer than %d bytes", RAG_CURATED_ANSWER_MAX);
    else if (!kb_utf8_valid(owned[0], strlen(owned[0])) || !kb_utf8_valid(owned[2], an))
        rc = kb_error_set(err, KB_EINVAL, "question or answer is not valid UTF-8");
    else if (in->n_similar < 0 || in->n_similar > RAG_CURATED_SIMILAR_MAX)
        rc = kb_error_set(err, KB_EINVAL, "similar_questions holds more than %d questions", RAG_CURATED_SIMILAR_MAX);
    else if (in->n_citations < 0 || in->n_citations > CURATED_CITATIONS_MAX)
        rc = kb_error_set(err, KB_EINVAL, "citations holds more than %d documents", CURATED_CITATIONS_MAX);
    for (int i = 0; i < in->n_similar && !rc; i++) {
        char *q = curated_clean_line(in->similar[i]);
        bool dup = !q[0] || !strcmp(q, owned[0]);
        if (strlen(q) > RAG_CURATED_QUESTION_MAX)
            rc = kb_error_set(err, KB_EINVAL, "similar_questions[%d] is longer than %d bytes", i,
                              RAG_CURATED_QUESTION_MAX);
        else if (!kb_utf8_valid(q, strlen(q)))
            rc = kb_error_set(err, KB_EINVAL, "similar_questions[%d] is not valid UTF-8", i);
        for (const char *p = sim.data; p && !dup && *p;) { /* one of each */
            const char *e = strchr(p, '\n');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            dup = len == strlen(q) && !memcmp(p, q, len);
            p = e ? e + 1 : p + len;
        }
        if (!rc && !dup)
            rc = kb_buf_printf(&sim, "%s%s", sim.len ? "\n" : "", q);
        free(q);
    }
    for (int i = 0; i < in->n_citations && !rc; i++) {
        struct kb_arena a;
        struct index_doc d;
        kb_arena_init(&a, 0, 0);
        if (index_doc_get(r->st, in->citations[i], &a, &d, NULL) != 0 || !strcmp(d.mime, INDEX_CURATED_MIME))
            rc = kb_error_set(err, KB_EINVAL, "citations[%d]: no document with id %lld", i,
                              (long long)in->citations[i]);
        kb_arena_release(&a);
        if (!rc)
            rc = kb_buf_printf(&cites, "%s%lld", cites.len ? "," : "", (long long)in->citations[i]);
    }
    owned[1] = kb_buf_take(&sim);
    owned[3] = kb_buf_take(&cites);
    row->collection_id = in->collection_id;
    row->question = owned[0];
    row->similar = owned[1];
    row->answer = owned[2];
    row->citations = owned[3];
    kb_buf_release(&sim);
    kb_buf_release(&cites);
    return rc;
}

static void curated_owned_free(char *owned[4])
{
    for (int i = 0; i < 4; i++)
        free(owned[i]);
}

/* Splits "a\nb" (sep '\n') or "1,2" (sep ',') into owned strings. */
static char **curated_split(const char *s, char sep, int *n_out)
{
    int n = 0, cap = 0;
    char **v = NULL;
    while (s && *s) {
        const char *e = strchr(s, sep);
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len) {
            if (n == cap) {
                cap = cap ? 2 * cap : 4;
                v = kb_xrealloc(v, (size_t)cap * sizeof *v);
            }
            v[n++] = kb_xstrndup(s, len);
        }
        s = e ? e + 1 : s + len;
    }
    *n_out = n;
    return v;
}

static void curated_from_index(struct rag_curated *c, const struct index_curated *x)
{
    char **cites;
    memset(c, 0, sizeof *c);
    c->id = x->id;
    c->collection_id = x->collection_id;
    c->version = x->version;
    c->question = kb_xstrdup(x->question);
    c->similar = curated_split(x->similar, '\n', &c->n_similar);
    c->answer = kb_xstrdup(x->answer);
    cites = curated_split(x->citations, ',', &c->n_citations);
    c->citations = kb_xcalloc((size_t)c->n_citations + 1, sizeof *c->citations);
    for (int i = 0; i < c->n_citations; i++) {
        if (kb_parse_i64(cites[i], &c->citations[i]))
            c->citations[i] = 0;
        free(cites[i]);
    }
    free(cites);
    c->uses = x->uses;
    c->created_at = x->created_at;
    c->updated_at = x->updated_at;
}

void rag_curated_release(struct rag_curated *c)
{
    if (!c)
        return;
    free(c->question);
    for (int i = 0; i < c->n_similar; i++)
        free(c->similar[i]);
    free(c->similar);
    free(c->answer);
    free(c->citations);
    memset(c, 0, sizeof *c);
}

void rag_curated_free(struct rag_curated *c, int n)
{
    for (int i = 0; c && i < n; i++)
        rag_curated_release(&c[i]);
    free(c);
}

/* ---- the hidden documents ----------------------------------------------------------------------- */

/* The hidden document's name: the question, cut at a character boundary to fit. */
static void curated_doc_name(char *buf, size_t cap, const char *q)
{
    size_t n = strlen(q);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)q[n] & 0xC0) == 0x80)
            n--; /* q[n] would start the cut character */
    }
    memcpy(buf, q, n);
    buf[n] = '\0';
}

/* Writes entry id's current version as its hidden document and records it. */
static int curated_write_doc(struct rag *r, int64_t id, struct kb_error *err)
{
    struct kb_arena a;
    struct index_curated c;
    struct index_doc d = {0};
    struct index_chunk ch = {0};
    struct kb_buf text;
    char path[64], name[256];
    int64_t doc_id = 0;
    int rc;
    kb_arena_init(&a, 0, 0);
    kb_buf_init(&text, 0);
    rc = index_curated_get(r->st, id, &a, &c, err);
    if (rc)
        goto out;
    kb_buf_printf(&text, "Q: %s\n", c.question);
    for (const char *p = c.similar; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        kb_buf_printf(&text, "Q: %.*s\n", (int)len, p);
        p = e ? e + 1 : p + len;
    }
    rc = kb_buf_printf(&text, "A: %s", c.answer);
    if (rc) {
        rc = kb_error_set(err, rc, "curated answer %lld is too large", (long long)id);
        goto out;
    }
    snprintf(path, sizeof path, CURATED_PATH_PREFIX "%lld", (long long)id);
    curated_doc_name(name, sizeof name, c.question);
    d.id = c.document_id; /* 0 the first time (a new row), and after a lost document: found by path */
    d.collection_id = c.collection_id;
    d.name = name;
    d.path = path;
    d.mime = INDEX_CURATED_MIME;
    d.bytes = (int64_t)text.len;
    ch.text = text.data;
    ch.n_tokens = ingest_estimate_tokens(text.data, text.len);
    ch.off_end = (int64_t)text.len;
    rc = index_doc_replace(r->st, &d, &ch, 1, NULL, NULL, 0, &doc_id, err);
    if (rc == KB_ENOENT && d.id) { /* the document was deleted by hand: a new one */
        d.id = 0;
        rc = index_doc_replace(r->st, &d, &ch, 1, NULL, NULL, 0, &doc_id, err);
    }
    if (rc == 0)
        rc = index_curated_set_document(r->st, id, c.version, doc_id, err);
out:
    kb_buf_release(&text);
    kb_arena_release(&a);
    return rc;
}

int rag_curated_sync(struct rag *r, struct kb_error *err)
{
    struct kb_arena a;
    int64_t *stale, *orphans;
    int n_stale, n_orphans, rc;
    kb_arena_init(&a, 0, 0);
    rc = index_curated_stale(r->st, &a, &stale, &n_stale, &orphans, &n_orphans, err);
    for (int i = 0; i < n_stale && !rc; i++)
        rc = curated_write_doc(r, stale[i], err);
    for (int i = 0; i < n_orphans && !rc; i++) {
        rc = index_doc_delete(r->st, orphans[i], err);
        rc = rc == KB_ENOENT ? 0 : rc;
    }
    if (!rc && n_stale + n_orphans > 0)
        kb_info("curated answers: rewrote %d search documents, removed %d", n_stale, n_orphans);
    kb_arena_release(&a);
    return rc;
}

bool rag_curated_is_doc(const char *mime)
{
    return mime && !strcmp(mime, INDEX_CURATED_MIME);
}

/* Appends the documents entry id cites (its optional citations) to out's citations after the
 * entry's own passage: [2], [3]... carry each document's name and its first passage, so a client
 * shows them as sources. A cited document deleted since is skipped. */
static void curated_cite_documents(struct rag *r, int64_t id, struct rag_answer *out)
{
    struct kb_arena a;
    struct index_curated c;
    kb_arena_init(&a, 0, 0);
    if (index_curated_get(r->st, id, &a, &c, NULL) == 0 && c.citations && c.citations[0]) {
        const char *s = c.citations;
        while (*s && out->n_citations < 1 + CURATED_CITATIONS_MAX) {
            char tok[32];
            size_t k = strcspn(s, ",");
            int64_t doc_id = 0;
            struct index_doc d;
            struct index_chunk_row *ch;
            int n_ch = 0;
            snprintf(tok, sizeof tok, "%.*s", (int)(k < sizeof tok - 1 ? k : sizeof tok - 1), s);
            s += k + (s[k] == ',');
            if (kb_parse_i64(tok, &doc_id) || index_doc_get(r->st, doc_id, &a, &d, NULL) != 0 ||
                index_doc_chunks(r->st, doc_id, &a, &ch, &n_ch, NULL) != 0 || n_ch < 1)
                continue;
            out->citations = kb_xrealloc(out->citations, (size_t)(out->n_citations + 1) * sizeof *out->citations);
            out->citations[out->n_citations] = (struct rag_citation){
                .n = out->n_citations + 1, .chunk_id = ch[0].id, .document_id = doc_id,
                .document = kb_xstrdup(d.name ? d.name : ""), .heading_path = kb_xstrdup(ch[0].heading_path ? ch[0].heading_path : ""),
                .page = ch[0].page_start, .page_end = ch[0].page_end, .text = kb_xstrdup(ch[0].text ? ch[0].text : "")};
            out->n_citations++;
        }
    }
    kb_arena_release(&a);
}

void rag_curated_mark(struct rag *r, struct rag_answer *out)
{
    int64_t id;
    int version;
    if (!out->mode || strcmp(out->mode, "faq") != 0 || out->n_citations < 1)
        return;
    if (index_curated_used(r->st, out->citations[0].document_id, &id, &version, NULL) == 0) {
        out->mode = "curated";
        out->curated_id = id;
        out->curated_version = version;
        curated_cite_documents(r, id, out);
    }
}

/* ---- writes --------------------------------------------------------------------------------------- */

/* Writes rows[0..n) (one transaction), then their documents. */
static int curated_put(struct rag *r, const struct index_curated *rows, int n, int64_t *ids, struct kb_error *err)
{
    int *versions = kb_xcalloc((size_t)n + 1, sizeof *versions);
    int rc = index_curated_put(r->st, rows, n, ids, versions, err);
    for (int i = 0; i < n && !rc; i++)
        rc = curated_write_doc(r, ids[i], err);
    free(versions);
    return rc;
}

int rag_curated_add(struct rag *r, const struct rag_curated_input *in, int64_t *id_out, struct kb_error *err)
{
    struct index_curated row;
    char *owned[4];
    int64_t id = 0;
    int rc = curated_row(r, in, &row, owned, err);
    if (!rc && in->collection_id > 0) {
        struct kb_arena a;
        struct index_collection *cs;
        int nc = 0;
        bool found = false;
        kb_arena_init(&a, 0, 0);
        rc = index_collection_list(r->st, &a, &cs, &nc, err);
        for (int i = 0; i < nc && !rc; i++)
            found |= cs[i].id == in->collection_id;
        if (!rc && !found)
            rc = kb_error_set(err, KB_ENOENT, "no collection with id %lld", (long long)in->collection_id);
        kb_arena_release(&a);
    }
    if (!rc)
        rc = curated_put(r, &row, 1, &id, err);
    if (id_out)
        *id_out = rc ? 0 : id;
    curated_owned_free(owned);
    return rc;
}

int rag_curated_update(struct rag *r, int64_t id, const struct rag_curated_input *in, struct kb_error *err)
{
    struct index_curated row;
    char *owned[4];
    int64_t got;
    int rc = curated_row(r, in, &row, owned, err);
    row.id = id;
    if (!rc)
        rc = curated_put(r, &row, 1, &got, err);
    curated_owned_free(owned);
    return rc;
}

int rag_curated_add_similar(struct rag *r, int64_t id, const char *question, struct kb_error *err)
{
    struct rag_curated c;
    struct rag_curated_input in = {0};
    const char **sim = NULL;
    char *q = curated_clean_line(question);
    bool have = false;
    int rc;
    if (!q[0]) {
        free(q);
        return kb_error_set(err, KB_EINVAL, "question is empty");
    }
    rc = rag_curated_get(r, id, &c, err);
    if (rc) {
        free(q);
        return rc;
    }
    have = !strcmp(c.question, q);
    for (int i = 0; i < c.n_similar && !have; i++)
        have = !strcmp(c.similar[i], q);
    if (!have) {
        sim = kb_xcalloc((size_t)c.n_similar + 1, sizeof *sim);
        for (int i = 0; i < c.n_similar; i++)
            sim[i] = c.similar[i];
        sim[c.n_similar] = q;
        in.question = c.question;
        in.similar = sim;
        in.n_similar = c.n_similar + 1;
        in.answer = c.answer;
        in.citations = c.citations;
        in.n_citations = c.n_citations;
        rc = rag_curated_update(r, id, &in, err);
    }
    free(sim);
    free(q);
    rag_curated_release(&c);
    return rc;
}

int rag_curated_delete(struct rag *r, int64_t id, struct kb_error *err)
{
    int64_t doc = 0;
    int rc = index_curated_delete(r->st, id, &doc, err);
    if (!rc && doc > 0) {
        rc = index_doc_delete(r->st, doc, err);
        rc = rc == KB_ENOENT ? 0 : rc;
    }
    return rc;
}

/* ---- reads ---------------------------------------------------------------------------------------- */

int rag_curated_get(struct rag *r, int64_t id, struct rag_curated *out, struct kb_error *err)
{
    struct kb_arena a;
    struct index_curated c;
    int rc;
    memset(out, 0, sizeof *out);
    kb_arena_init(&a, 0, 0);
    rc = index_curated_get(r->st, id, &a, &c, err);
    if (!rc)
        curated_from_index(out, &c);
    kb_arena_release(&a);
    return rc;
}

int rag_curated_list(struct rag *r, int64_t collection_id, const char *q, int page, int page_size,
                     struct rag_curated **out, int *n_out, int64_t *total, struct kb_error *err)
{
    struct kb_arena a;
    struct index_curated *c;
    int n = 0, rc;
    *out = NULL;
    *n_out = 0;
    if (page < 1)
        return kb_error_set(err, KB_EINVAL, "page counts from 1");
    kb_arena_init(&a, 0, 0);
    rc = index_curated_list(r->st, collection_id, q, (int64_t)(page - 1) * page_size, page_size, &a, &c, &n, total,
                            err);
    if (!rc) {
        *out = kb_xcalloc((size_t)n + 1, sizeof **out);
        for (int i = 0; i < n; i++)
            curated_from_index(&(*out)[i], &c[i]);
        *n_out = n;
    }
    kb_arena_release(&a);
    return rc;
}

int rag_curated_versions(struct rag *r, int64_t id, struct rag_curated **out, int *n_out, struct kb_error *err)
{
    struct kb_arena a;
    struct index_curated *c;
    int n = 0, rc;
    *out = NULL;
    *n_out = 0;
    kb_arena_init(&a, 0, 0);
    rc = index_curated_versions(r->st, id, &a, &c, &n, err);
    if (!rc) {
        *out = kb_xcalloc((size_t)n + 1, sizeof **out);
        for (int i = 0; i < n; i++)
            curated_from_index(&(*out)[i], &c[i]);
        *n_out = n;
    }
    kb_arena_release(&a);
    return rc;
}

void rag_curated_json(struct jw *w, const char *key, const struct rag_curated *c)
{
    jw_obj(w, key);
    jw_int(w, "id", c->id);
    jw_int(w, "collection_id", c->collection_id);
    jw_int(w, "version", c->version);
    jw_str(w, "question", c->question);
    jw_arr(w, "similar_questions");
    for (int i = 0; i < c->n_similar; i++)
        jw_str(w, NULL, c->similar[i]);
    jw_end_arr(w);
    jw_str(w, "answer", c->answer);
    jw_arr(w, "citations");
    for (int i = 0; i < c->n_citations; i++)
        jw_int(w, NULL, c->citations[i]);
    jw_end_arr(w);
    jw_int(w, "uses", c->uses);
    jw_int(w, "created_at", c->created_at);
    jw_int(w, "updated_at", c->updated_at);
    jw_end_obj(w);
}

/* ---- import and export ---------------------------------------------------------------------------- */

void rag_table_free(struct rag_table *t)
{
    for (int i = 0; t && i < t->n_rows; i++) {
        for (int j = 0; j < t->rows[i].n; j++)
            free(t->rows[i].cell[j]);
        free(t->rows[i].cell);
    }
    if (t) {
        free(t->rows);
        memset(t, 0, sizeof *t);
    }
}

/* Appends a row of n cells (taken) to t. */
static int table_push(struct rag_table *t, char **cells, int n, int max_rows, struct kb_error *err)
{
    if (t->n_rows >= max_rows) {
        for (int j = 0; j < n; j++)
            free(cells[j]);
        free(cells);
        return kb_error_set(err, KB_ETOOBIG, "more than %d rows", max_rows);
    }
    if (t->n_rows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->rows = kb_xrealloc(t->rows, (size_t)t->cap * sizeof *t->rows);
    }
    t->rows[t->n_rows].cell = cells;
    t->rows[t->n_rows].n = n;
    t->n_rows++;
    return 0;
}

int rag_curated_csv_parse(const char *s, size_t n, struct rag_table *t, struct kb_error *err)
{
    struct kb_buf cell;
    char **cells = NULL;
    int nc = 0, rc = 0, row = 1;
    size_t i = 0;
    bool quoted = false, was_quoted = false, any = false;
    memset(t, 0, sizeof *t);
    if (n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
        i = 3; /* a UTF-8 byte order mark (Excel writes one) */
    if (!kb_utf8_valid(s + i, n - i))
        return kb_error_set(err, KB_EINVAL, "the CSV file is not valid UTF-8");
    kb_buf_init(&cell, RAG_CURATED_ANSWER_MAX + 1);
    cells = kb_xcalloc(CURATED_CSV_COLS_MAX, sizeof *cells);
    for (; i <= n && !rc; i++) {
        char ch = i < n ? s[i] : '\n';
        bool end_field, end_row = false;
        if (quoted) {
            if (i == n) {
                rc = kb_error_set(err, KB_EINVAL, "row %d: a quoted field is not closed", row);
                break;
            }
            if (ch == '"' && i + 1 < n && s[i + 1] == '"') {
                rc = kb_buf_putc(&cell, '"');
                i++;
            } else if (ch == '"') {
                quoted = false;
            } else {
                rc = kb_buf_putc(&cell, ch);
            }
            continue;
        }
        if (ch == '"' && cell.len == 0 && !was_quoted) {
            quoted = was_quoted = any = true;
            continue;
        }
        if (ch == '\r' && i + 1 < n && s[i + 1] == '\n')
            continue;
        end_row = ch == '\n' || ch == '\r';
        end_field = end_row || ch == ',';
        if (!end_field) {
            if (was_quoted) {
                rc = kb_error_set(err, KB_EINVAL, "row %d: text after a closing quote", row);
                break;
            }
            rc = kb_buf_putc(&cell, ch);
            any = true;
            continue;
        }
        if (nc >= CURATED_CSV_COLS_MAX) {
            rc = kb_error_set(err, KB_EINVAL, "row %d: more than %d columns", row, CURATED_CSV_COLS_MAX);
            break;
        }
        cells[nc++] = kb_xstrndup(cell.data ? cell.data : "", cell.len);
        any |= ch == ',';
        kb_buf_reset(&cell);
        was_quoted = false;
        if (end_row) {
            if (!any) { /* a blank line: an empty row, so row numbers stay those of the file */
                for (int j = 0; j < nc; j++)
                    free(cells[j]);
                nc = 0;
            }
            if (i < n || any) {
                rc = table_push(t, cells, nc, CURATED_IMPORT_ROWS_MAX + 1, err);
                cells = kb_xcalloc(CURATED_CSV_COLS_MAX, sizeof *cells);
            }
            nc = 0;
            any = false;
            row++;
        }
    }
    if (rc == KB_ETOOBIG && cell.len > RAG_CURATED_ANSWER_MAX)
        rc = kb_error_set(err, KB_EINVAL, "row %d: a field is longer than %d bytes", row, RAG_CURATED_ANSWER_MAX);
    for (int j = 0; j < nc; j++)
        free(cells[j]);
    free(cells);
    kb_buf_release(&cell);
    if (rc)
        rag_table_free(t);
    return rc;
}

/* True for a cell text a spreadsheet would take as a formula. */
static bool curated_formula_lead(char c)
{
    return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

/* Splits a similar_questions cell at newlines and '|' into owned strings. */
static char **curated_similar_cell(const char *s, int *n_out)
{
    char *copy = kb_xstrdup(s ? s : "");
    char **v;
    for (char *p = copy; *p; p++)
        if (*p == '|' || *p == '\r')
            *p = '\n';
    v = curated_split(copy, '\n', n_out);
    free(copy);
    return v;
}

static int curated_import_table(struct rag *r, int64_t collection_id, const struct rag_table *t, int *n_imported,
                                struct kb_error *err)
{
    int col_q = -1, col_s = -1, col_a = -1, rc = 0, n = 0;
    struct index_curated *rows;
    char *(*owned)[4];
    int64_t *ids;
    if (t->n_rows == 0)
        return kb_error_set(err, KB_EINVAL, "row 1: the table is empty (it needs a header row: question, "
                                            "similar_questions, answer)");
    for (int j = 0; j < t->rows[0].n; j++) {
        char *h = curated_clean_line(t->rows[0].cell[j]);
        for (char *p = h; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        if (!strcmp(h, "question") && col_q < 0)
            col_q = j;
        else if ((!strcmp(h, "similar_questions") || !strcmp(h, "similar questions")) && col_s < 0)
            col_s = j;
        else if (!strcmp(h, "answer") && col_a < 0)
            col_a = j;
        free(h);
    }
    if (col_q < 0 || col_a < 0)
        return kb_error_set(err, KB_EINVAL, "row 1: the header must name the columns question and answer "
                                            "(and optionally similar_questions)");
    if (t->n_rows - 1 > CURATED_IMPORT_ROWS_MAX)
        return kb_error_set(err, KB_ETOOBIG, "more than %d rows", CURATED_IMPORT_ROWS_MAX);
    rows = kb_xcalloc((size_t)t->n_rows, sizeof *rows);
    owned = kb_xcalloc((size_t)t->n_rows, sizeof *owned);
    ids = kb_xcalloc((size_t)t->n_rows, sizeof *ids);
    for (int i = 1; i < t->n_rows && !rc; i++) {
        const struct rag_table_row *tr = &t->rows[i];
        struct rag_curated_input in = {.collection_id = collection_id};
        struct kb_error e = {0};
        char **sim;
        int ns = 0;
        bool blank = true;
        for (int j = 0; j < tr->n && blank; j++)
            blank = !tr->cell[j][0];
        if (blank)
            continue; /* an empty line */
        in.question = col_q < tr->n ? tr->cell[col_q] : "";
        in.answer = col_a < tr->n ? tr->cell[col_a] : "";
        sim = curated_similar_cell(col_s >= 0 && col_s < tr->n ? tr->cell[col_s] : "", &ns);
        in.similar = (const char *const *)sim;
        in.n_similar = ns;
        rc = curated_row(r, &in, &rows[n], owned[n], &e);
        n++;
        if (rc)
            rc = kb_error_set(err, rc, "row %d: %s", i + 1, e.msg);
        for (int k = 0; k < ns; k++)
            free(sim[k]);
        free(sim);
    }
    if (!rc && n > 0)
        rc = curated_put(r, rows, n, ids, err);
    *n_imported = rc ? 0 : n;
    for (int i = 0; i < n; i++)
        curated_owned_free(owned[i]);
    free(owned);
    free(rows);
    free(ids);
    return rc;
}

int rag_curated_import(struct rag *r, int64_t collection_id, const void *data, size_t n, const char *format,
                       int *n_imported, struct kb_error *err)
{
    struct rag_table t = {0};
    bool xlsx = format ? !strcmp(format, "xlsx") : n >= 4 && !memcmp(data, "PK\x03\x04", 4);
    int rc;
    *n_imported = 0;
    if (format && strcmp(format, "xlsx") && strcmp(format, "csv"))
        return kb_error_set(err, KB_EINVAL, "format must be csv or xlsx, not '%.40s'", format);
    if (xlsx) {
        const struct config *cfg = rag_config_get(r);
        struct ingest_sheet *sh = NULL;
        rc = ingest_sheet_read(cfg, data, n, &sh, err);
        rag_config_put(r, cfg);
        for (int i = 0; !rc && i < sh->n_rows; i++) { /* the cells move into the table */
            rc = table_push(&t, sh->rows[i], sh->n_cells[i], CURATED_IMPORT_ROWS_MAX + 1, err);
            sh->rows[i] = NULL;
            sh->n_cells[i] = 0;
        }
        ingest_sheet_free(sh);
    } else {
        rc = rag_curated_csv_parse(data, n, &t, err);
        for (int i = 1; !rc && i < t.n_rows; i++) /* the export's formula guard comes off */
            for (int j = 0; j < t.rows[i].n; j++) {
                char *c = t.rows[i].cell[j];
                if (c[0] == '\'' && curated_formula_lead(c[1]))
                    memmove(c, c + 1, strlen(c));
            }
    }
    if (!rc)
        rc = curated_import_table(r, collection_id, &t, n_imported, err);
    rag_table_free(&t);
    return rc;
}

/* Writes the table (n_rows x 3 cells, header first) as CSV or XLSX. */
static int curated_write_table(const char *const *cells, int n_rows, bool xlsx, struct kb_buf *out,
                               struct kb_error *err)
{
    int rc = 0;
    if (xlsx)
        return ingest_sheet_write(cells, n_rows, 3, out, err);
    for (int i = 0; i < n_rows * 3 && !rc; i++) { /* every field quoted (RFC 4180), CRLF row ends */
        const char *s = cells[i];
        rc = kb_buf_putc(out, '"');
        if (!rc && curated_formula_lead(s[0]))
            rc = kb_buf_putc(out, '\''); /* not run as a formula; the import drops it */
        for (; *s && !rc; s++)
            rc = *s == '"' ? kb_buf_puts(out, "\"\"") : kb_buf_putc(out, *s);
        rc = rc ? rc : kb_buf_puts(out, i % 3 == 2 ? "\"\r\n" : "\",");
    }
    return rc ? kb_error_set(err, rc, "the export is too large") : 0;
}

int rag_curated_export(struct rag *r, int64_t collection_id, const char *format, struct kb_buf *out,
                       struct kb_error *err)
{
    struct kb_arena a;
    struct index_curated *page;
    const char **cells = NULL;
    int n = 0, rc = 0, n_rows = 1;
    int64_t total = 0, off = 0;
    bool xlsx = format && !strcmp(format, "xlsx");
    if (format && !xlsx && strcmp(format, "csv"))
        return kb_error_set(err, KB_EINVAL, "format must be csv or xlsx, not '%.40s'", format);
    kb_arena_init(&a, 0, 0);
    /* all pages (newest first), then written oldest first: the order they were added */
    do {
        rc = index_curated_list(r->st, collection_id, NULL, off, INDEX_CURATED_PAGE_MAX, &a, &page, &n, &total, err);
        if (rc)
            break;
        cells = kb_xrealloc(cells, (size_t)(total + n + 1) * 3 * sizeof *cells);
        for (int i = 0; i < n; i++) {
            cells[(off + i + 1) * 3] = page[i].question;
            cells[(off + i + 1) * 3 + 1] = page[i].similar;
            cells[(off + i + 1) * 3 + 2] = page[i].answer;
        }
        off += n;
    } while (n == INDEX_CURATED_PAGE_MAX);
    if (!rc) {
        cells = kb_xrealloc(cells, (size_t)(off + 1) * 3 * sizeof *cells);
        cells[0] = "question";
        cells[1] = "similar_questions";
        cells[2] = "answer";
        for (int64_t i = 1, j = off; i < j; i++, j--) {
            for (int k = 0; k < 3; k++) {
                const char *t = cells[i * 3 + k];
                cells[i * 3 + k] = cells[j * 3 + k];
                cells[j * 3 + k] = t;
            }
        }
        n_rows = (int)off + 1;
        rc = curated_write_table(cells, n_rows, xlsx, out, err);
    }
    free(cells);
    kb_arena_release(&a);
    return rc;
}
