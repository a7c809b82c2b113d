/* ingest/ingest.c: the module's front door: format detection and the parse pipeline.
 *
 * ingest_parse_file() reads a regular file (refusing it before reading when it passes
 * ingest.max_file_bytes), ingest_parse_memory() detects the format (unless forced), decodes text
 * formats to UTF-8 (encoding.c), runs one parser, and finishes the document (doc.c). Detection trusts
 * content over names: magic bytes (%PDF, PK zip with its entries, OLE2, images, other binaries)
 * first, then the extension chooses among text formats; a name that promises a format the content
 * does not have is a clear KB_ECORRUPT, content nobody recognises is KB_EFORMAT. Every error names
 * the file, so a batch can report it and carry on. Tests: tests/ingest/test_text.c (detection). */
#define _GNU_SOURCE /* memmem */
#include "ingest/ingest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *ingest_ext(const char *name)
{
    if (!name)
        return "";
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strrchr(base, '.');
    return dot ? dot : "";
}

static bool ingest_ext_in(const char *ext, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(ext, list[i]) == 0)
            return true;
    return false;
}

static bool ingest_has_magic(const unsigned char *u, size_t n, const char *magic, size_t m)
{
    return n >= m && memcmp(u, magic, m) == 0;
}

/* Looks for "<html" or "<!doctype html" at the start, after a BOM and whitespace. */
static bool ingest_sniff_html(const char *s, size_t n)
{
    size_t i = 0;
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return (n - i >= 5 && strncasecmp(s + i, "<html", 5) == 0) ||
           (n - i >= 14 && strncasecmp(s + i, "<!doctype html", 14) == 0);
}

int ingest_detect(const void *data, size_t n, const char *name, enum ingest_format *out, struct kb_error *err)
{
    static const char *const md_ext[] = {".md", ".markdown", ".mdown", ".mkd"};
    static const char *const html_ext[] = {".html", ".htm", ".xhtml"};
    static const char *const csv_ext[] = {".csv"};
    static const char *const txt_ext[] = {".txt", ".text", ".log", ""};
    static const char *const zip_ext[] = {".docx", ".xlsx", ".pptx", ".epub"};
    const unsigned char *u = data;
    const char *s = data;
    const char *nm = name ? name : "(memory)";
    const char *ext = ingest_ext(name);
    *out = INGEST_FMT_UNKNOWN;
    if (n == 0)
        return kb_error_set(err, KB_EEMPTY, "cannot ingest '%s': the file is empty", nm);

    size_t head = KB_MIN(n, (size_t)1024);
    if (memmem(s, head, "%PDF-", 5)) {
        *out = INGEST_FMT_PDF;
        return 0;
    }
    if (ingest_has_magic(u, n, "PK\x03\x04", 4) || ingest_has_magic(u, n, "PK\x05\x06", 4)) {
        bool readable;
        enum ingest_format f = zipf_sniff(data, n, &readable);
        if (!readable)
            return kb_error_set(err, KB_ECORRUPT, "cannot ingest '%s': damaged or truncated zip archive", nm);
        if (f == INGEST_FMT_UNKNOWN)
            return kb_error_set(err, KB_EFORMAT,
                                "cannot ingest '%s': a zip archive that is not DOCX, XLSX, PPTX or EPUB", nm);
        *out = f;
        return 0;
    }
    if (ingest_has_magic(u, n, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8))
        return kb_error_set(err, KB_EFORMAT,
                            "cannot ingest '%s': legacy Office file (.doc/.xls/.ppt) or encrypted Office "
                            "document; save it as .docx, .xlsx or .pptx", nm);
    if (ingest_has_magic(u, n, "\x89PNG\r\n\x1a\n", 8) || ingest_has_magic(u, n, "\xFF\xD8\xFF", 3) ||
        ingest_has_magic(u, n, "GIF87a", 6) || ingest_has_magic(u, n, "GIF89a", 6) ||
        ingest_has_magic(u, n, "II*\0", 4) || ingest_has_magic(u, n, "MM\0*", 4)) {
        *out = INGEST_FMT_IMAGE;
        return 0;
    }
    if (ingest_ext_in(ext, zip_ext, KB_ARRAY_LEN(zip_ext)))
        return kb_error_set(err, KB_ECORRUPT, "cannot ingest '%s': not a zip archive, so not a valid %s file", nm,
                            ext + 1);
    if (strcasecmp(ext, ".pdf") == 0)
        return kb_error_set(err, KB_ECORRUPT, "cannot ingest '%s': not a PDF file (no %%PDF header)", nm);

    bool texty = enc_looks_text(s, n);
    bool text_ext = ingest_ext_in(ext, md_ext, KB_ARRAY_LEN(md_ext)) ||
                    ingest_ext_in(ext, html_ext, KB_ARRAY_LEN(html_ext)) ||
                    ingest_ext_in(ext, csv_ext, KB_ARRAY_LEN(csv_ext)) ||
                    ingest_ext_in(ext, txt_ext, KB_ARRAY_LEN(txt_ext));
    if (!texty) {
        if (text_ext)
            return kb_error_set(err, KB_ECORRUPT, "cannot ingest '%s': binary data, not text", nm);
        return kb_error_set(err, KB_EFORMAT, "cannot ingest '%s': unknown format (binary data)", nm);
    }
    if (ingest_ext_in(ext, md_ext, KB_ARRAY_LEN(md_ext)))
        *out = INGEST_FMT_MARKDOWN;
    else if (ingest_ext_in(ext, html_ext, KB_ARRAY_LEN(html_ext)) || ingest_sniff_html(s, n))
        *out = INGEST_FMT_HTML;
    else if (ingest_ext_in(ext, csv_ext, KB_ARRAY_LEN(csv_ext)))
        *out = INGEST_FMT_CSV;
    else if (ingest_ext_in(ext, txt_ext, KB_ARRAY_LEN(txt_ext)))
        *out = INGEST_FMT_TEXT;
    else
        return kb_error_set(err, KB_EFORMAT,
                            "cannot ingest '%s': unsupported extension '%s' (text files need .txt, .md, .csv "
                            "or .html)", nm, ext);
    return 0;
}

static int ingest_run(struct ingest_ctx *c, const char *data, size_t n, enum ingest_format fmt)
{
    switch (fmt) {
    case INGEST_FMT_TEXT:
    case INGEST_FMT_MARKDOWN:
    case INGEST_FMT_CSV: {
        struct kb_buf u;
        kb_buf_init(&u, c->max_parse_bytes);
        int rc = enc_to_utf8(c, data, n, NULL, &u, NULL);
        if (!rc) {
            const char *t = u.data ? u.data : "";
            rc = fmt == INGEST_FMT_TEXT       ? parse_text(c, t, u.len)
                 : fmt == INGEST_FMT_MARKDOWN ? parse_markdown(c, t, u.len)
                                              : parse_csv(c, t, u.len);
        }
        kb_buf_release(&u);
        return rc;
    }
    case INGEST_FMT_HTML:
        return parse_html(c, data, n);
    case INGEST_FMT_DOCX:
        return parse_docx(c, data, n);
    case INGEST_FMT_XLSX:
        return parse_xlsx(c, data, n);
    case INGEST_FMT_PPTX:
        return parse_pptx(c, data, n);
    case INGEST_FMT_PDF:
    case INGEST_FMT_EPUB:
    case INGEST_FMT_IMAGE:
        return parse_pdf(c, data, n, fmt);
    case INGEST_FMT_UNKNOWN:
        break;
    }
    return kb_error_set(c->err, KB_EFORMAT, "cannot ingest '%s': unknown format", c->name);
}

int ingest_parse_memory(const struct config *cfg, const void *data, size_t n, const char *name,
                        enum ingest_format fmt, struct ingest_doc **out, struct kb_error *err)
{
    struct ingest_ctx c = {0};
    *out = NULL;
    c.cfg = cfg;
    c.name = name ? name : "(memory)";
    c.err = err;
    c.deadline_s = kb_now_s() + (double)cfg->ingest_max_parse_seconds;
    c.max_expanded_bytes = (size_t)cfg->ingest_max_expanded_bytes;
    c.max_parse_bytes = (size_t)cfg->ingest_max_parse_bytes;
    if ((uint64_t)n > (uint64_t)cfg->ingest_max_file_bytes)
        return kb_error_set(err, KB_ETOOBIG, "cannot ingest '%s': %zu bytes is more than ingest.max_file_bytes (%lld)",
                            c.name, n, (long long)cfg->ingest_max_file_bytes);
    if (fmt == INGEST_FMT_UNKNOWN) {
        int rc = ingest_detect(data, n, name, &fmt, err);
        if (rc)
            return rc;
    } else if (n == 0) {
        return kb_error_set(err, KB_EEMPTY, "cannot ingest '%s': the file is empty", c.name);
    }
    c.doc = doc_new(c.name, c.max_parse_bytes);
    c.doc->format = fmt;
    int rc = ingest_run(&c, data, n, fmt);
    if (!rc)
        rc = doc_finish(&c);
    if (rc) {
        if (err && err->code == 0)
            kb_error_set(err, rc, "cannot ingest '%s': %s", c.name, kb_strerror(rc));
        ingest_doc_free(c.doc);
        return rc;
    }
    *out = c.doc;
    return 0;
}

int ingest_parse_file(const struct config *cfg, const char *path, struct ingest_doc **out, struct kb_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kb_error_set(err, errno == ENOENT ? KB_ENOENT : KB_EIO, "cannot open '%s': %s", path, strerror(errno));
    int rc = 0;
    char *data = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = kb_error_set(err, KB_EIO, "cannot stat '%s': %s", path, strerror(errno));
        goto out_close;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = kb_error_set(err, KB_EINVAL, "cannot ingest '%s': not a regular file", path);
        goto out_close;
    }
    if ((uint64_t)st.st_size > (uint64_t)cfg->ingest_max_file_bytes) {
        rc = kb_error_set(err, KB_ETOOBIG, "cannot ingest '%s': %lld bytes is more than ingest.max_file_bytes (%lld)",
                          path, (long long)st.st_size, (long long)cfg->ingest_max_file_bytes);
        goto out_close;
    }
    size_t size = (size_t)st.st_size;
    data = kb_try_malloc(size + 1, 1);
    if (!data) {
        rc = kb_error_set(err, KB_ENOMEM, "cannot read '%s': out of memory", path);
        goto out_close;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, data + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got != size) {
        rc = kb_error_set(err, KB_EIO, "cannot read '%s': short read", path);
        goto out_free;
    }
    rc = ingest_parse_memory(cfg, data, size, path, INGEST_FMT_UNKNOWN, out, err);
out_free:
    free(data);
out_close:
    close(fd);
    return rc;
}
