/* ingest/ingest_int.h: what the files of ingest/ share and nobody else sees.
 *
 * A parse runs with one struct ingest_ctx: the config, the document being built, the deadline and
 * the caller's error. Parsers never touch doc->blocks directly: they call doc_add*() (doc.c),
 * which normalise text (norm.c) and record locations; doc_finish() detects Q/A pairs, joins the
 * document text and fails with KB_EEMPTY when nothing was found. Third-party glue, one file per
 * library (STYLE.md 18): norm.c utf8proc, encoding.c iconv, xml.c libxml2, zip.c libzip, ocr.c Tesseract,
 * parse_pdf.c MuPDF. Tests: tests/ingest/. */
#ifndef KB_INGEST_INGEST_INT_H
#define KB_INGEST_INGEST_INT_H

#include "ingest/ingest.h"

struct ingest_ctx {
    const struct config *cfg;  /* borrowed */
    struct ingest_doc *doc;    /* the document being built; owned by the caller of the parser */
    const char *name;          /* display name for messages; never NULL */
    double deadline_s;         /* kb_now_s() value after which parsing stops with KB_ETIMEOUT */
    size_t max_expanded_bytes; /* cap per zip entry / decompressed stream */
    size_t max_parse_bytes;    /* memory cap for parser scratch and the document arena */
    int n_tables;              /* tables started so far (block.table numbering) */
    struct kb_error *err;      /* caller's; nullable */
};

/* KB_ETIMEOUT (with a message) once the deadline has passed, else 0. */
int ctx_check_time(struct ingest_ctx *c);

/* ---- norm.c: Unicode normalisation (utf8proc) ------------------------------------------------------ */

/* Appends s[0..n) to out as NFC with invalid bytes dropped, control characters stripped and
 * whitespace folded to single spaces (none where a line break or ideographic space sat between
 * two CJK characters); leading and trailing whitespace trimmed. With keep_lines, newlines and tabs
 * are kept as they are (code). */
int norm_text(struct kb_buf *out, const char *s, size_t n, bool keep_lines);
/* CJK ideographs, kana, hangul and CJK/full-width punctuation: text joined without spaces. */
bool norm_is_cjk_like(uint32_t cp);

/* ---- encoding.c: text decoding (iconv) ------------------------------------------------------------- */

/* Converts data[0..n) to UTF-8 in out. charset (nullable) is a declared charset (HTML meta); else
 * BOMs (UTF-8, UTF-16LE/BE, UTF-32LE/BE) decide, then valid UTF-8, then GB18030 (covers GBK and
 * GB2312). Fails with KB_ECORRUPT when no candidate decodes cleanly or the result looks binary.
 * *charset_out (nullable) gets a static name of the charset used. */
int enc_to_utf8(struct ingest_ctx *c, const char *data, size_t n, const char *charset, struct kb_buf *out,
                const char **charset_out);
/* True when the bytes look like text in some supported encoding (used by detection). */
bool enc_looks_text(const char *data, size_t n);

/* ---- doc.c: the document builder --------------------------------------------------------------------- */

struct ingest_doc *doc_new(const char *name, size_t arena_cap_bytes);
char *doc_strndup(struct ingest_ctx *c, const char *s, size_t n); /* arena copy; NULL + err on cap */
/* Adds a block of kind with text normalised (CODE keeps lines). Text that normalises to nothing
 * adds nothing and returns 0. loc may be NULL. */
int doc_add(struct ingest_ctx *c, enum ingest_block_kind kind, int level, const char *text, size_t n,
            const struct ingest_loc *loc);
/* doc_add for text that crosses pages: marks[i].off are raw byte offsets in text where page
 * marks[i].page starts; they are moved to the normalised text and kept in block.page_marks. */
int doc_add_paged(struct ingest_ctx *c, enum ingest_block_kind kind, int level, const char *text, size_t n,
                  const struct ingest_loc *loc, const struct ingest_page_mark *marks, size_t n_marks);
int doc_add_faq(struct ingest_ctx *c, const char *q, size_t qn, const char *a, size_t an,
                const struct ingest_loc *loc);

/* A table being added row by row. Cells are raw text (normalised here). When the header names a
 * question and an answer column (question/answer, q/a, 问题/答案, 问/答), rows become FAQ blocks. */
struct doc_table {
    char **head;       /* normalised header cells; owned (kb_xmalloc) */
    size_t n_head;
    const char *header_line; /* header cells joined " | "; arena; NULL when no header */
    int q_col, a_col;  /* FAQ columns or -1 */
    int id;            /* block.table */
};
int doc_table_begin(struct ingest_ctx *c, struct doc_table *t, const char *const *cells, const size_t *lens,
                    size_t n_cells);
int doc_table_row(struct ingest_ctx *c, struct doc_table *t, const char *const *cells, const size_t *lens,
                  size_t n_cells, const struct ingest_loc *loc);
void doc_table_release(struct doc_table *t);

/* Finds Q:/A: pairs among paragraphs, builds doc->text and block offsets, sets the title; fails
 * with KB_EEMPTY (message naming the file) when the document has no text. */
int doc_finish(struct ingest_ctx *c);

/* Returns the length of a question ("Q:", "问：", ...) or answer marker at the start of s, or 0. */
size_t doc_q_marker(const char *s, size_t n);
size_t doc_a_marker(const char *s, size_t n);

/* ---- zip.c (libzip) -------------------------------------------------------------------------------- */

struct zipf; /* opaque; an archive opened over caller memory */
/* data must outlive the archive. Errors: KB_ECORRUPT naming c->name. */
int zipf_open(struct ingest_ctx *c, const void *data, size_t n, struct zipf **out);
bool zipf_has(struct zipf *z, const char *entry);
/* Reads a whole entry into *out (kb_try_malloc, NUL-terminated; caller frees). Entries larger than
 * c->max_expanded_bytes fail with KB_ETOOBIG; missing, damaged or encrypted
 * ones with KB_ECORRUPT. */
int zipf_read(struct ingest_ctx *c, struct zipf *z, const char *entry, char **out, size_t *n_out);
void zipf_close(struct zipf *z); /* NULL ok */
/* Detection helper without a context: the format implied by the entries of a zip in memory;
 * *readable is false when the archive cannot be opened at all (damaged or truncated). */
enum ingest_format zipf_sniff(const void *data, size_t n, bool *readable);
/* Writes a new zip archive of n entries (names[i] holding datas[i][0..lens[i]), deflated) into out
 * (sheet.c: XLSX exports). KB_ETOOBIG past out's cap. */
int zipf_write(const char *const *names, const char *const *datas, const size_t *lens, int n, struct kb_buf *out,
               struct kb_error *err);

/* ---- sheet.c: XLSX cells (what parse_office.c shares with it) -------------------------------------- */

struct xml_node;
/* Appends the text of one shared-string item <si> (its <t>, or the <t> of its rich-text runs). */
int sheet_si_text(const struct xml_node *si, struct kb_buf *b);

/* ---- xml.c (libxml2) ------------------------------------------------------------------------------- */

struct xml_attr {
    const char *name;  /* "prefix:local" when namespaced (r:id), else local name */
    const char *value; /* UTF-8 */
    struct xml_attr *next;
};

struct xml_node {
    const char *name;   /* local element name (lower case for HTML); NULL for a text node */
    const char *text;   /* text nodes and CDATA: UTF-8 content; NULL for elements */
    struct xml_attr *attrs;
    struct xml_node *child, *next, *parent;
};

/* Parses XML (html=false) or HTML into a tree allocated in scratch. Never substitutes entities,
 * never loads DTDs or touches the network; entity references are dropped. HTML input must already
 * be UTF-8. Errors: KB_ECORRUPT (not well-formed XML), KB_ETOOBIG (scratch cap). */
int xml_parse(struct ingest_ctx *c, struct kb_arena *scratch, const char *data, size_t n, bool html,
              struct xml_node **root);
const char *xml_attr(const struct xml_node *n, const char *name); /* NULL when absent */
bool xml_is(const struct xml_node *n, const char *name);           /* element with this local name */
struct xml_node *xml_child(const struct xml_node *n, const char *name);
struct xml_node *xml_find(const struct xml_node *n, const char *name); /* first descendant, preorder */
/* Appends the concatenated text of n's subtree. */
int xml_text(const struct xml_node *n, struct kb_buf *b);

/* ---- ocr.c (Tesseract) ------------------------------------------------------------------------------ */

struct ocr; /* one engine per document; one thread */
/* Loads the eng+chi_sim models. KB_ENOTIMPL (with the Debian packages to install) when missing. */
int ocr_open(struct ingest_ctx *c, struct ocr **out);
/* Recognises an 8-bit grey image (w x h, stride bytes per row, dpi) and appends its UTF-8 text. */
int ocr_page(struct ingest_ctx *c, struct ocr *o, const unsigned char *gray, int w, int h, int stride, int dpi,
             struct kb_buf *out);
void ocr_close(struct ocr *o); /* NULL ok */

/* ---- parsers ------------------------------------------------------------------------------------------ */

int parse_text(struct ingest_ctx *c, const char *utf8, size_t n);     /* parse_text.c */
int parse_markdown(struct ingest_ctx *c, const char *utf8, size_t n); /* parse_markdown.c */
int parse_csv(struct ingest_ctx *c, const char *utf8, size_t n);      /* parse_csv.c */
int parse_html(struct ingest_ctx *c, const char *data, size_t n);     /* parse_html.c (raw bytes) */
int parse_docx(struct ingest_ctx *c, const char *data, size_t n);     /* parse_office.c */
int parse_xlsx(struct ingest_ctx *c, const char *data, size_t n);     /* parse_office.c */
int parse_pptx(struct ingest_ctx *c, const char *data, size_t n);     /* parse_office.c */
/* PDF and EPUB through MuPDF; images report the missing text layer. parse_pdf.c */
int parse_pdf(struct ingest_ctx *c, const char *data, size_t n, enum ingest_format fmt);

#endif
