/* tests/ingest/fixtures.h: fixture writers for the ingest tests and the sample generator: files in a
 * per-process temporary directory, zip archives (libzip) from in-memory parts, and a small PDF
 * writer (Helvetica text, CJK text with an Identity-H font and a ToUnicode map, several pages,
 * an outline, an /Encrypt dictionary) that computes a correct xref table. */
#ifndef KB_TESTS_INGEST_FIXTURES_H
#define KB_TESTS_INGEST_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

/* Path of `name` inside the per-process temporary directory (created on first use, removed with
 * everything in it when the process exits). Static ring
 * of 16 buffers: copy it if you need it long. */
const char *fx_path(const char *name);
/* Writes bytes to path; aborts the test process on failure. Returns path. */
const char *fx_write(const char *path, const void *data, size_t n);
const char *fx_write_str(const char *name, const char *text); /* fx_write(fx_path(name), text) */

/* Writes a zip at path with n parts (name, NUL-terminated content). Returns path. */
const char *fx_zip(const char *path, const char *const *names, const char *const *contents, size_t n);
/* Same with explicit lengths, and compression level per archive (deflate). */
const char *fx_zip_n(const char *path, const char *const *names, const char *const *contents, const size_t *lens,
                     size_t n);

/* ---- PDF --------------------------------------------------------------------------------------- */

struct fx_pdf; /* opaque */
struct fx_pdf *fx_pdf_new(void);
void fx_pdf_page(struct fx_pdf *p); /* starts a new page (A4 portrait, 595x842 pt) */
/* Text at (x, y) from the bottom-left in points. Latin-1 subset of ASCII only. */
void fx_pdf_text(struct fx_pdf *p, double x, double y, double size, const char *ascii);
void fx_pdf_bold(struct fx_pdf *p, double x, double y, double size, const char *ascii); /* Helvetica-Bold */
/* The WinAnsi byte for a code point Helvetica can show, or -1. */
int fx_winansi(uint32_t cp);
/* Mixed text (UTF-8, BMP): WinAnsi runs in Helvetica, others in the CJK font whose 2-byte codes equal
 * the code points (Identity-H). */
void fx_pdf_cjk(struct fx_pdf *p, double x, double y, double size, const char *utf8);
/* An outline entry pointing at 1-based page, at depth level (1 = top). Entries nest by order. */
void fx_pdf_outline(struct fx_pdf *p, const char *title, int page, int level);
void fx_pdf_set_title(struct fx_pdf *p, const char *ascii); /* the Info dictionary's /Title */
/* Serialises the document; encrypted adds a standard-handler /Encrypt dictionary whose user
 * password is not empty. Caller owns the returned buffer (free()). */
char *fx_pdf_finish(struct fx_pdf *p, bool encrypted, size_t *n_out);
void fx_pdf_free(struct fx_pdf *p);
/* Finishes p (not encrypted), writes it to fx_path(name) and frees p. Returns the path (fx_path). */
const char *fx_pdf_save(struct fx_pdf *p, const char *name);

/* Reads a whole file (caller frees); NULL when missing. */
char *fx_read(const char *path, size_t *n_out);

/* ---- lookups over parsed documents --------------------------------------------------------------- */
#include "ingest/ingest.h"

/* First chunk / block whose text contains needle, or NULL. */
const struct ingest_chunk *fx_chunk_with(const struct ingest_doc *d, const char *needle);
const struct ingest_block *fx_block_with(const struct ingest_doc *d, const char *needle);
/* Parses text given in memory under `name` (its extension picks the format) and chunks it with the
 * config's settings; returns the doc or NULL with *rc and err set. */
struct ingest_doc *fx_parse_mem(const struct config *cfg, const char *name, const void *data, size_t n, int *rc,
                                struct kb_error *err);
struct ingest_doc *fx_parse_file(const struct config *cfg, const char *path, int *rc, struct kb_error *err);

#endif
