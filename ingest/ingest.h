/* ingest/ingest.h: turns documents (text, Markdown, HTML, CSV, DOCX, XLSX, PPTX, PDF, EPUB) into one
 * document model, a flat sequence of blocks, and then into structure-aware chunks for indexing.
 *
 * Flow: bytes -> ingest_detect() (content first: magic bytes and zip entries; then the extension)
 * -> one parser per format (parse_*.c) -> blocks, normalised to NFC with whitespace folded and
 * control characters stripped -> ingest_chunk() -> chunks with heading path and location (for PDFs
 * the page of every byte: block page marks, chunk page_map).
 *
 * Every string in a document lives in the document's arena and is valid until ingest_doc_free().
 * Parses are independent: several threads may parse different files at once. A document is built by
 * one thread; once built it is read-only and may be shared (ingest_chunk() rewrites its chunks).
 * Parsing has a memory cap (ingest.max_parse_bytes), a time cap (ingest.max_parse_seconds), a file
 * cap (ingest.max_file_bytes) and a zip-entry cap (ingest.max_expanded_bytes). Errors are per file and
 * name the file: KB_EFORMAT (unknown or unsupported format), KB_ECORRUPT (damaged, encrypted or
 * garbage content), KB_EEMPTY (no text: empty file, or a PDF/image without a text layer: "no text
 * layer; enable ingest.ocr"; with ingest.ocr on such pages are read by Tesseract, eng+chi_sim),
 * KB_ETOOBIG (a cap was hit), KB_ETIMEOUT, KB_ENOMEM, KB_EIO, KB_ENOTIMPL (ingest.ocr is on but the
 * Tesseract language data is not installed). Tests: tests/ingest/. */
#ifndef KB_INGEST_INGEST_H
#define KB_INGEST_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "config/config.h"

/* ---- formats ------------------------------------------------------------------------------------ */

enum ingest_format {
    INGEST_FMT_UNKNOWN = 0,
    INGEST_FMT_TEXT,
    INGEST_FMT_MARKDOWN,
    INGEST_FMT_HTML,
    INGEST_FMT_CSV,
    INGEST_FMT_DOCX,
    INGEST_FMT_XLSX,
    INGEST_FMT_PPTX,
    INGEST_FMT_PDF,
    INGEST_FMT_EPUB,
    INGEST_FMT_IMAGE, /* PNG, JPEG, GIF, TIFF: needs OCR */
};

const char *ingest_format_name(enum ingest_format f); /* "pdf", "docx", ...; static */

/* Detects the format of data[0..n) by content (magic bytes, zip entries, text encoding), then by the
 * extension of name (nullable; only its suffix is used). Returns 0 and *out, or KB_EFORMAT (unknown,
 * unsupported such as legacy .doc, an unrecognised zip, or text with an extension other than .txt,
 * .text, .log, .md, .markdown, .html, .htm, .xhtml, .csv or none), KB_EEMPTY (n == 0) or KB_ECORRUPT
 * (a damaged zip, binary garbage named as text, or a .pdf/.docx/... name without that content).
 * Messages name `name`. */
int ingest_detect(const void *data, size_t n, const char *name, enum ingest_format *out, struct kb_error *err);

/* ---- document model ----------------------------------------------------------------------------- */

enum ingest_block_kind {
    INGEST_BLOCK_HEADING,   /* level 1..9 */
    INGEST_BLOCK_PARAGRAPH,
    INGEST_BLOCK_LIST_ITEM, /* level = nesting depth, 1 for a top-level item */
    INGEST_BLOCK_TABLE_ROW, /* text = "Header: value, ..." when a header exists, else cells " | " */
    INGEST_BLOCK_CODE,      /* text keeps its newlines and indentation */
    INGEST_BLOCK_FAQ,       /* text = question, answer = answer */
};

const char *ingest_block_kind_name(enum ingest_block_kind k); /* "heading", ...; static */

/* Where a block came from. Unused fields are 0 / NULL. */
struct ingest_loc {
    int page;          /* 1-based page (PDF, EPUB layout page); 0 when none */
    int slide;         /* 1-based slide (PPTX); 0 when none */
    const char *sheet; /* sheet name (XLSX); borrowed from the document; NULL when none */
    int row;           /* 1-based row in the sheet or CSV file (header is row 1); 0 when none */
    int line;          /* 1-based source line (text, Markdown, CSV); 0 when unknown */
};

/* A page change inside a text: from byte `off` of the text on, the text sits on page `page`. */
struct ingest_page_mark {
    size_t off; /* byte offset in the block's text */
    int page;   /* 1-based page */
};

struct ingest_block {
    enum ingest_block_kind kind;
    int level;             /* heading level 1..9 or list depth 1..; 0 otherwise */
    const char *text;      /* NFC UTF-8, NUL-terminated; borrowed from the document */
    size_t text_bytes;     /* strlen(text) */
    const char *answer;    /* FAQ only: the answer; NULL otherwise */
    const char *header;    /* TABLE_ROW only: header cells joined by " | "; NULL when none */
    int table;             /* TABLE_ROW: 1-based table number in the document; 0 otherwise */
    struct ingest_loc loc; /* where it came from */
    size_t off_start;      /* byte offset of this block's text in ingest_doc.text */
    size_t off_end;        /* end offset (exclusive) in ingest_doc.text */
    const struct ingest_page_mark *page_marks; /* page changes after loc.page, ascending off (a PDF
                                                  paragraph joined across a page break); borrowed
                                                  from the document; NULL when on one page */
    size_t n_page_marks;
};

enum ingest_chunk_kind { INGEST_CHUNK_PROSE, INGEST_CHUNK_TABLE, INGEST_CHUNK_FAQ, INGEST_CHUNK_CODE };

const char *ingest_chunk_kind_name(enum ingest_chunk_kind k); /* "prose", ...; static */

struct ingest_chunk {
    enum ingest_chunk_kind kind;
    const char *text;         /* NUL-terminated; tables start with the header line; FAQ is
                                 "Q: question\nA: answer"; borrowed from the document */
    size_t text_bytes;        /* strlen(text) */
    const char *heading_path; /* "Handbook > Returns > Refunds", "" at top level; borrowed */
    int page_first, page_last;   /* page range (PDF/EPUB): page_first is the page of text[0]; 0 when none */
    const char *page_map;        /* page changes inside text: "off:page,off:page" (byte offset in text
                                    where that 1-based page starts, ascending); "" when the text sits
                                    on one page; borrowed */
    int slide_first, slide_last; /* slide range (PPTX); 0 when none */
    const char *sheet;           /* XLSX sheet; NULL when none; borrowed */
    int row_first, row_last;     /* row range (XLSX/CSV); 0 when none */
    int line_first, line_last;   /* source line range (text formats); 0 when unknown */
    size_t off_start, off_end;   /* byte range in ingest_doc.text covered by the chunk */
    int n_tokens;                /* estimated tokens of text (see ingest_estimate_tokens) */
    size_t first_block, n_blocks; /* the blocks the chunk was cut from */
};

/* A parsed document: data only; its arena owns every string. */
struct ingest_doc {
    enum ingest_format format;
    const char *name;             /* the file name given to the parser; borrowed from the doc */
    const char *title;            /* first heading, HTML <title> or PDF title; may be NULL */
    struct ingest_block *blocks;  /* n_blocks entries in reading order; owned */
    size_t n_blocks;
    char *text;                   /* every block's text joined by "\n"; NUL-terminated; owned */
    size_t text_bytes;
    struct ingest_chunk *chunks;  /* filled by ingest_chunk(); owned */
    size_t n_chunks;
    int n_pages;                  /* PDF/EPUB pages, PPTX slides, XLSX sheets; 0 otherwise */
    struct kb_arena arena;        /* owns every string above */
    size_t blocks_cap;            /* internal: allocated entries in blocks */
};

/* Parses the file at path: refuses files over cfg->ingest_max_file_bytes, detects the format and
 * runs its parser. On success *out holds at least one block. Caller owns *out; free with
 * ingest_doc_free(). *out is NULL on failure and err names the file. */
int ingest_parse_file(const struct config *cfg, const char *path, struct ingest_doc **out, struct kb_error *err);

/* The same for bytes already in memory (uploads, fuzzing). name is used for the extension and in
 * messages (nullable). fmt forces a format; INGEST_FMT_UNKNOWN detects it. Copies nothing of data
 * beyond the call. Caller owns *out; free with ingest_doc_free(). */
int ingest_parse_memory(const struct config *cfg, const void *data, size_t n, const char *name,
                        enum ingest_format fmt, struct ingest_doc **out, struct kb_error *err);

void ingest_doc_free(struct ingest_doc *doc); /* NULL ok */

/* ---- chunking ----------------------------------------------------------------------------------- */

/* Cuts doc's blocks into chunks (doc->chunks, replacing earlier ones) with target size
 * cfg->ingest_chunk_tokens and overlap cfg->ingest_chunk_overlap (a fraction of the target):
 * - sections (text under one heading path) are never mixed, unless a section is tiny (under 1/8 of
 *   the target), which then joins the next one under their common heading path; never across a
 *   level-1 heading (chapter, slide, sheet), except text before the first heading;
 * - prose splits at sentence ends (. ! ? ; followed by a space, and 。！？；｡ anywhere), overlapping
 *   whole sentences; a tiny trailing piece is merged into the chunk before it;
 * - table rows are packed by rows with the header line repeated at the top of every chunk; a tiny
 *   lead-in paragraph just before a table ("Prices are:") becomes the first chunk's first line;
 * - every FAQ block is one chunk; code blocks split at lines only when too large.
 * Deterministic: the same document and settings give the same chunks. 0, KB_ENOMEM or KB_ETOOBIG. */
int ingest_chunk(const struct config *cfg, struct ingest_doc *doc, struct kb_error *err);
/* The same with explicit settings (target_tokens >= 8, overlap in [0, 0.5]). */
int ingest_chunk_with(struct ingest_doc *doc, int target_tokens, double overlap, struct kb_error *err);

/* Token estimate used for chunk sizes: 1 per CJK character (and CJK punctuation), 1.3 per Latin
 * word plus 0.3 per letter past the 8th, 0.5 per other symbol; the sum is rounded up. The embedder's
 * own tokenizer replaces this later. */
int ingest_estimate_tokens(const char *s, size_t n);

/* ---- sheets (sheet.c): XLSX as a table of text cells, for imports and exports ------------------- */

#define INGEST_SHEET_MAX_ROWS 100001
#define INGEST_SHEET_MAX_COLS 64
struct ingest_sheet {
    char ***rows;  /* rows[i][k]: the text of row i+1, column k (UTF-8, "" when empty); owned */
    int *n_cells;  /* cells of each row up to its last non-empty one (0 for an empty row) */
    int n_rows;    /* up to the last row with a cell */
};
/* Reads the first sheet of an XLSX workbook in memory (data borrowed for the call). Errors:
 * KB_EFORMAT (no workbook), KB_ECORRUPT (damaged zip or XML), KB_ETOOBIG (over the row or column
 * caps, or ingest.max_expanded_bytes). Caller owns *out; free with ingest_sheet_free(). */
int ingest_sheet_read(const struct config *cfg, const void *data, size_t n, struct ingest_sheet **out,
                      struct kb_error *err);
void ingest_sheet_free(struct ingest_sheet *s); /* NULL ok */
/* Appends an XLSX workbook of one sheet holding cells[r * n_cols + c] (n_rows x n_cols, inline
 * strings) to out. */
int ingest_sheet_write(const char *const *cells, int n_rows, int n_cols, struct kb_buf *out, struct kb_error *err);

#endif
