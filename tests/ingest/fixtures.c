/* tests/ingest/fixtures.c: see fixtures.h. The PDF writer lays out objects as
 * 1 catalog, 2 page tree, 3 Helvetica (Helvetica-Bold is inline in each page's resources as /F3), 4 Type0 CJK font (Identity-H; codes are Unicode code points
 * mapped back by a ToUnicode CMap), 5 its CIDFont, then (page, content) pairs, then the outline root
 * and items, then the /Encrypt dictionary, then the ToUnicode stream; offsets are recorded while writing
 * so the xref table is exact. */
#define _GNU_SOURCE /* nftw */
#include "fixtures.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

static void fx_die(const char *what, const char *path)
{
    fprintf(stderr, "fixtures: %s failed for %s\n", what, path);
    abort();
}

static char fx_dir[256];

static int fx_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void fx_cleanup(void)
{
    if (fx_dir[0])
        nftw(fx_dir, fx_rm, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fx_path(const char *name)
{
    char *dir = fx_dir;
    static char ring[16][512];
    static int next;
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof fx_dir, "%s/kbox-ingest-%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
        mkdir(dir, 0700);
        atexit(fx_cleanup); /* the directory goes when the test process ends */
    }
    char *out = ring[next++ % 16];
    snprintf(out, 512, "%s/%s", dir, name);
    return out;
}

const char *fx_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0)
        fx_die("write", path);
    return path;
}

const char *fx_write_str(const char *name, const char *text)
{
    return fx_write(fx_path(name), text, strlen(text));
}

char *fx_read(const char *path, size_t *n_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct kb_buf b;
    kb_buf_init(&b, 0);
    char tmp[65536];
    size_t r;
    while ((r = fread(tmp, 1, sizeof tmp, f)) > 0)
        kb_buf_append(&b, tmp, r);
    fclose(f);
    *n_out = b.len;
    return kb_buf_take(&b);
}

const char *fx_zip_n(const char *path, const char *const *names, const char *const *contents, const size_t *lens,
                     size_t n)
{
    int zerr = 0;
    unlink(path);
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!za)
        fx_die("zip_open", path);
    for (size_t i = 0; i < n; i++) {
        zip_source_t *src = zip_source_buffer(za, contents[i], lens[i], 0);
        zip_int64_t idx = src ? zip_file_add(za, names[i], src, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0)
            fx_die("zip_file_add", names[i]);
        zip_file_set_mtime(za, (zip_uint64_t)idx, 1767225600, 0); /* fixed time: reproducible files */
    }
    if (zip_close(za) != 0)
        fx_die("zip_close", path);
    return path;
}

const char *fx_zip(const char *path, const char *const *names, const char *const *contents, size_t n)
{
    size_t *lens = kb_xcalloc(n ? n : 1, sizeof *lens);
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(contents[i]);
    fx_zip_n(path, names, contents, lens, n);
    free(lens);
    return path;
}

/* ---- PDF ---------------------------------------------------------------------------------------- */

struct fx_outline {
    char *title;
    int page, level;
};

struct fx_pdf {
    struct kb_buf *pages; /* content streams */
    size_t n_pages;
    struct fx_outline *ol;
    size_t n_ol;
    bool cjk;
    char *info_title; /* the Info dictionary's /Title, or NULL: none */
};

struct fx_pdf *fx_pdf_new(void)
{
    return kb_xcalloc(1, sizeof(struct fx_pdf));
}

void fx_pdf_page(struct fx_pdf *p)
{
    p->pages = kb_xrealloc(p->pages, (p->n_pages + 1) * sizeof *p->pages);
    kb_buf_init(&p->pages[p->n_pages], 0);
    p->n_pages++;
}

static void fx_pdf_latin(struct fx_pdf *p, const char *font, double x, double y, double size, const char *s)
{
    struct kb_buf *b = &p->pages[p->n_pages - 1];
    kb_buf_printf(b, "BT /%s %.1f Tf %.1f %.1f Td (", font, size, x, y);
    for (; *s; s++) {
        if (*s == '(' || *s == ')' || *s == '\\')
            kb_buf_putc(b, '\\');
        kb_buf_putc(b, *s);
    }
    kb_buf_puts(b, ") Tj ET\n");
}

void fx_pdf_text(struct fx_pdf *p, double x, double y, double size, const char *s)
{
    fx_pdf_latin(p, "F1", x, y, size, s);
}

void fx_pdf_bold(struct fx_pdf *p, double x, double y, double size, const char *s)
{
    fx_pdf_latin(p, "F3", x, y, size, s);
}

int fx_winansi(uint32_t cp)
{
    static const struct {
        uint32_t cp;
        int byte;
    } map[] = {{0x20AC, 0x80}, {0x2026, 0x85}, {0x2018, 0x91}, {0x2019, 0x92}, {0x201C, 0x93},
               {0x201D, 0x94}, {0x2022, 0x95}, {0x2013, 0x96}, {0x2014, 0x97}};
    if (cp < 0x80 || (cp >= 0xA0 && cp <= 0xFF))
        return (int)cp;
    for (size_t i = 0; i < KB_ARRAY_LEN(map); i++)
        if (map[i].cp == cp)
            return map[i].byte;
    return -1;
}

void fx_pdf_cjk(struct fx_pdf *p, double x, double y, double size, const char *s)
{
    /* Runs of characters Helvetica has (WinAnsi) go out in Helvetica, the rest in the CJK font, inside
     * one text object, so the
     * text position advances by each font's own widths and no gaps appear between runs. */
    struct kb_buf *b = &p->pages[p->n_pages - 1];
    p->cjk = true;
    kb_buf_printf(b, "BT %.1f %.1f Td ", x, y);
    size_t n = strlen(s);
    int cur = 0; /* 1 Helvetica, 2 CJK */
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int len = kb_utf8_decode(s + i, n - i, &cp);
        i += len > 0 ? (size_t)len : 1;
        int wa = fx_winansi(cp);
        int want = wa >= 0 ? 1 : 2;
        if (want != cur) {
            if (cur)
                kb_buf_puts(b, cur == 1 ? ") Tj " : "> Tj ");
            kb_buf_printf(b, "/F%d %.1f Tf %c", want, size, want == 1 ? '(' : '<');
            cur = want;
        }
        if (want == 1) {
            if (cp == '(' || cp == ')' || cp == '\\')
                kb_buf_putc(b, '\\');
            kb_buf_putc(b, (char)wa);
        } else if (cp <= 0xFFFF) {
            kb_buf_printf(b, "%04X", (unsigned)cp);
        }
    }
    if (cur)
        kb_buf_puts(b, cur == 1 ? ") Tj " : "> Tj ");
    kb_buf_puts(b, "ET\n");
}

void fx_pdf_outline(struct fx_pdf *p, const char *title, int page, int level)
{
    p->ol = kb_xrealloc(p->ol, (p->n_ol + 1) * sizeof *p->ol);
    p->ol[p->n_ol++] = (struct fx_outline){kb_xstrdup(title), page, level};
}

void fx_pdf_free(struct fx_pdf *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_pages; i++)
        kb_buf_release(&p->pages[i]);
    for (size_t i = 0; i < p->n_ol; i++)
        free(p->ol[i].title);
    free(p->pages);
    free(p->ol);
    free(p->info_title);
    free(p);
}

void fx_pdf_set_title(struct fx_pdf *p, const char *ascii)
{
    free(p->info_title);
    p->info_title = kb_xstrdup(ascii);
}

static void fx_pdf_str(struct kb_buf *b, const char *s)
{
    kb_buf_putc(b, '(');
    for (; *s; s++) {
        if (*s == '(' || *s == ')' || *s == '\\')
            kb_buf_putc(b, '\\');
        kb_buf_putc(b, *s);
    }
    kb_buf_putc(b, ')');
}

const char *fx_pdf_save(struct fx_pdf *p, const char *name)
{
    size_t n;
    char *data = fx_pdf_finish(p, false, &n);
    const char *path = fx_write(fx_path(name), data, n);
    free(data);
    fx_pdf_free(p);
    return path;
}

char *fx_pdf_finish(struct fx_pdf *p, bool encrypted, size_t *n_out)
{
    size_t n_obj = 5 + 2 * p->n_pages + (p->n_ol ? 1 + p->n_ol : 0) + (encrypted ? 1 : 0) + 1 + (p->info_title ? 1 : 0);
    size_t *off = kb_xcalloc(n_obj + 1, sizeof *off);
    struct kb_buf b;
    kb_buf_init(&b, 0);
    size_t page0 = 6, ol_root = 6 + 2 * p->n_pages, enc = ol_root + (p->n_ol ? 1 + p->n_ol : 0);
    size_t tounicode = enc + (encrypted ? 1 : 0);
    kb_buf_puts(&b, "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n");

    off[1] = b.len;
    kb_buf_printf(&b, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R");
    if (p->n_ol)
        kb_buf_printf(&b, " /Outlines %zu 0 R", ol_root);
    kb_buf_puts(&b, " >>\nendobj\n");
    off[2] = b.len;
    kb_buf_printf(&b, "2 0 obj\n<< /Type /Pages /Count %zu /Kids [", p->n_pages);
    for (size_t i = 0; i < p->n_pages; i++)
        kb_buf_printf(&b, " %zu 0 R", page0 + 2 * i);
    kb_buf_puts(&b, " ] >>\nendobj\n");
    off[3] = b.len;
    kb_buf_puts(&b, "3 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>\nendobj\n");
    off[4] = b.len;
    kb_buf_printf(&b, "4 0 obj\n<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H "
                      "/DescendantFonts [5 0 R] /ToUnicode %zu 0 R >>\nendobj\n", tounicode);
    off[5] = b.len;
    kb_buf_puts(&b, "5 0 obj\n<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo "
                    "<< /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor << /Type "
                    "/FontDescriptor /FontName /STSong-Light /Flags 4 /FontBBox [0 -200 1000 900] /ItalicAngle 0 "
                    "/Ascent 880 /Descent -120 /CapHeight 700 /StemV 80 >> >>\nendobj\n");
    /* ToUnicode: code = Unicode code point (BMP), as 256 ranges that differ only in the last byte. */
    struct kb_buf cm;
    kb_buf_init(&cm, 0);
    kb_buf_puts(&cm, "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CMapName /KbIdentity def\n"
                     "/CMapType 2 def\n1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n");
    for (int blk = 0; blk < 256; blk += 64) {
        kb_buf_puts(&cm, "64 beginbfrange\n");
        for (int hi = blk; hi < blk + 64; hi++)
            kb_buf_printf(&cm, "<%02X00> <%02XFF> <%02X00>\n", hi, hi, hi);
        kb_buf_puts(&cm, "endbfrange\n");
    }
    kb_buf_puts(&cm, "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    off[tounicode] = b.len;
    kb_buf_printf(&b, "%zu 0 obj\n<< /Length %zu >>\nstream\n", tounicode, cm.len);
    kb_buf_append(&b, cm.data, cm.len);
    kb_buf_puts(&b, "\nendstream\nendobj\n");
    kb_buf_release(&cm);
    for (size_t i = 0; i < p->n_pages; i++) {
        size_t po = page0 + 2 * i;
        off[po] = b.len;
        kb_buf_printf(&b,
                      "%zu 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << "
                      "/F1 3 0 R /F2 4 0 R /F3 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding "
                      "/WinAnsiEncoding >> >> >> /Contents %zu 0 R >>\nendobj\n",
                      po, po + 1);
        off[po + 1] = b.len;
        kb_buf_printf(&b, "%zu 0 obj\n<< /Length %zu >>\nstream\n", po + 1, p->pages[i].len);
        kb_buf_append(&b, p->pages[i].data ? p->pages[i].data : "", p->pages[i].len);
        kb_buf_puts(&b, "\nendstream\nendobj\n");
    }
    if (p->n_ol) {
        /* parent of each entry: nearest earlier entry with a smaller level, else the root. */
        size_t n = p->n_ol;
        size_t *parent = kb_xcalloc(n, sizeof *parent); /* object numbers */
        for (size_t i = 0; i < n; i++) {
            parent[i] = ol_root;
            for (size_t j = i; j-- > 0;)
                if (p->ol[j].level < p->ol[i].level) {
                    parent[i] = ol_root + 1 + j;
                    break;
                }
        }
        off[ol_root] = b.len;
        size_t first = 0, last = 0;
        for (size_t i = 0; i < n; i++)
            if (parent[i] == ol_root) {
                if (!first)
                    first = ol_root + 1 + i;
                last = ol_root + 1 + i;
            }
        kb_buf_printf(&b, "%zu 0 obj\n<< /Type /Outlines /First %zu 0 R /Last %zu 0 R /Count %zu >>\nendobj\n", ol_root,
                      first, last, n);
        for (size_t i = 0; i < n; i++) {
            size_t me = ol_root + 1 + i;
            size_t prev = 0, next = 0, cf = 0, cl = 0;
            for (size_t j = i; j-- > 0;)
                if (parent[j] == parent[i]) {
                    prev = ol_root + 1 + j;
                    break;
                }
            for (size_t j = i + 1; j < n; j++)
                if (parent[j] == parent[i]) {
                    next = ol_root + 1 + j;
                    break;
                }
            for (size_t j = i + 1; j < n; j++)
                if (parent[j] == me) {
                    if (!cf)
                        cf = ol_root + 1 + j;
                    cl = ol_root + 1 + j;
                }
            off[me] = b.len;
            kb_buf_printf(&b, "%zu 0 obj\n<< /Title ", me);
            fx_pdf_str(&b, p->ol[i].title);
            kb_buf_printf(&b, " /Parent %zu 0 R /Dest [%zu 0 R /XYZ 0 842 0]", parent[i],
                          page0 + 2 * (size_t)(p->ol[i].page - 1));
            if (prev)
                kb_buf_printf(&b, " /Prev %zu 0 R", prev);
            if (next)
                kb_buf_printf(&b, " /Next %zu 0 R", next);
            if (cf)
                kb_buf_printf(&b, " /First %zu 0 R /Last %zu 0 R /Count 1", cf, cl);
            kb_buf_puts(&b, " >>\nendobj\n");
        }
        free(parent);
    }
    if (encrypted) {
        off[enc] = b.len;
        kb_buf_printf(&b, "%zu 0 obj\n<< /Filter /Standard /V 1 /R 2 /O <", enc);
        for (int i = 0; i < 32; i++)
            kb_buf_printf(&b, "%02X", (unsigned)(i * 37 + 11) & 0xFF);
        kb_buf_puts(&b, "> /U <");
        for (int i = 0; i < 32; i++)
            kb_buf_printf(&b, "%02X", (unsigned)(i * 91 + 5) & 0xFF);
        kb_buf_puts(&b, "> /P -44 >>\nendobj\n");
    }
    size_t info = tounicode + 1;
    if (p->info_title) {
        off[info] = b.len;
        kb_buf_printf(&b, "%zu 0 obj\n<< /Title ", info);
        fx_pdf_str(&b, p->info_title);
        kb_buf_puts(&b, " >>\nendobj\n");
    }
    size_t xref = b.len;
    kb_buf_printf(&b, "xref\n0 %zu\n0000000000 65535 f \n", n_obj + 1);
    for (size_t i = 1; i <= n_obj; i++)
        kb_buf_printf(&b, "%010zu 00000 n \n", off[i]);
    kb_buf_printf(&b, "trailer\n<< /Size %zu /Root 1 0 R /ID [<00112233445566778899AABBCCDDEEFF> "
                      "<00112233445566778899AABBCCDDEEFF>]", n_obj + 1);
    if (encrypted)
        kb_buf_printf(&b, " /Encrypt %zu 0 R", enc);
    if (p->info_title)
        kb_buf_printf(&b, " /Info %zu 0 R", info);
    kb_buf_printf(&b, " >>\nstartxref\n%zu\n%%%%EOF\n", xref);
    free(off);
    *n_out = b.len;
    return kb_buf_take(&b);
}

/* ---- lookups -------------------------------------------------------------------------------------- */

const struct ingest_chunk *fx_chunk_with(const struct ingest_doc *d, const char *needle)
{
    for (size_t i = 0; d && i < d->n_chunks; i++)
        if (strstr(d->chunks[i].text, needle))
            return &d->chunks[i];
    return NULL;
}

const struct ingest_block *fx_block_with(const struct ingest_doc *d, const char *needle)
{
    for (size_t i = 0; d && i < d->n_blocks; i++)
        if (strstr(d->blocks[i].text, needle) || (d->blocks[i].answer && strstr(d->blocks[i].answer, needle)))
            return &d->blocks[i];
    return NULL;
}

struct ingest_doc *fx_parse_mem(const struct config *cfg, const char *name, const void *data, size_t n, int *rc,
                                struct kb_error *err)
{
    struct ingest_doc *d = NULL;
    kb_error_clear(err);
    *rc = ingest_parse_memory(cfg, data, n, name, INGEST_FMT_UNKNOWN, &d, err);
    if (!*rc)
        *rc = ingest_chunk(cfg, d, err);
    if (*rc) {
        ingest_doc_free(d);
        return NULL;
    }
    return d;
}

struct ingest_doc *fx_parse_file(const struct config *cfg, const char *path, int *rc, struct kb_error *err)
{
    struct ingest_doc *d = NULL;
    kb_error_clear(err);
    *rc = ingest_parse_file(cfg, path, &d, err);
    if (!*rc)
        *rc = ingest_chunk(cfg, d, err);
    if (*rc) {
        ingest_doc_free(d);
        return NULL;
    }
    return d;
}
