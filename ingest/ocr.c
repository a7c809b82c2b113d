/* ingest/ocr.c: optical character recognition for pages without a text layer: the only Tesseract
 * includer.
 *
 * parse_pdf.c renders each page (scanned PDF pages, or an image opened as a one-page document) to an
 * 8-bit grey pixmap and hands it here; Tesseract (LSTM engine, languages "eng+chi_sim", automatic
 * page segmentation) returns UTF-8 text, which is appended with spaces between two CJK characters
 * removed (Tesseract separates Chinese characters like words) and words hyphenated across a line end
 * joined. One engine per document: loading the
 * language data dominates the cost for small files. Tesseract prints warnings to stderr on some
 * inputs; debug_file routes them to /dev/null. Not thread-shared: each parse opens its own engine.
 * Tests: tests/ingest/test_pdf.c (test_ocr, skipped when mutool or the language data is missing). */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes" /* capi.h declares f() without void */
#include <tesseract/capi.h>
#pragma GCC diagnostic pop

#define OCR_LANGS "eng+chi_sim"

struct ocr {
    TessBaseAPI *api;
};

int ocr_open(struct ingest_ctx *c, struct ocr **out)
{
    *out = NULL;
    TessBaseAPI *api = TessBaseAPICreate();
    if (!api)
        return kb_error_set(c->err, KB_ENOMEM, "cannot start OCR for '%s': out of memory", c->name);
    if (TessBaseAPIInit3(api, NULL, OCR_LANGS) != 0) {
        TessBaseAPIDelete(api);
        return kb_error_set(c->err, KB_ENOTIMPL,
                            "cannot OCR '%s': Tesseract language data for %s is not installed "
                            "(Debian: tesseract-ocr-eng tesseract-ocr-chi-sim)", c->name, OCR_LANGS);
    }
    TessBaseAPISetVariable(api, "debug_file", "/dev/null");
    TessBaseAPISetPageSegMode(api, PSM_AUTO);
    struct ocr *o = kb_xcalloc(1, sizeof *o);
    o->api = api;
    *out = o;
    return 0;
}

/* Appends s without the spaces Tesseract puts between CJK characters. */
static int ocr_append(struct kb_buf *out, const char *s)
{
    size_t n = strlen(s);
    int rc = 0;
    uint32_t prev = 0;
    for (size_t i = 0; i < n && !rc;) {
        uint32_t cp;
        int len = kb_utf8_decode(s + i, n - i, &cp);
        size_t step = len > 0 ? (size_t)len : 1;
        if (cp == '-' && i + 1 < n && s[i + 1] == '\n' && prev < 0x80 && ((prev | 32) - 'a') < 26u && i + 2 < n &&
            s[i + 2] >= 'a' && s[i + 2] <= 'z') {
            i += 2; /* "hyphen-\nated" across a line end */
            continue;
        }
        if (cp == ' ' && norm_is_cjk_like(prev)) {
            size_t j = i;
            while (j < n && s[j] == ' ')
                j++;
            uint32_t next = 0;
            if (j < n && kb_utf8_decode(s + j, n - j, &next) > 0 && norm_is_cjk_like(next)) {
                i = j;
                continue;
            }
        }
        rc = kb_buf_append(out, s + i, step);
        prev = cp;
        i += step;
    }
    return rc;
}

int ocr_page(struct ingest_ctx *c, struct ocr *o, const unsigned char *gray, int w, int h, int stride, int dpi,
             struct kb_buf *out)
{
    TessBaseAPISetImage(o->api, gray, w, h, 1, stride);
    TessBaseAPISetSourceResolution(o->api, dpi);
    char *text = TessBaseAPIGetUTF8Text(o->api);
    if (!text)
        return kb_error_set(c->err, KB_ECORRUPT, "cannot OCR '%s': recognition failed", c->name);
    int rc = ocr_append(out, text);
    TessDeleteText(text);
    TessBaseAPIClear(o->api);
    if (rc)
        rc = kb_error_set(c->err, rc, "cannot OCR '%s': text passes ingest.max_parse_bytes", c->name);
    return rc;
}

void ocr_close(struct ocr *o)
{
    if (!o)
        return;
    TessBaseAPIEnd(o->api);
    TessBaseAPIDelete(o->api);
    free(o);
}
