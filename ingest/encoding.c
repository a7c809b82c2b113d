/* ingest/encoding.c: decoding text files to UTF-8: the only iconv user.
 *
 * Order of evidence: a byte-order mark (UTF-8, UTF-16LE/BE, UTF-32LE/BE), then a charset the
 * document declares (HTML meta; aliases GB2312/GBK map to their superset GB18030, Latin-1 to
 * Windows-1252 as browsers do), then strict UTF-8 validity, then GB18030, the encoding of Chinese
 * text files that are not UTF-8. Conversion is strict: an invalid sequence rejects the candidate.
 * The decoded text must not look binary (NUL bytes, or more than 5% C0 control characters), which
 * is how garbage named .txt is told apart. Output goes to a kb_buf capped by max_parse_bytes.
 * Tests: tests/ingest/test_text.c. */
#include "ingest/ingest_int.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

static int enc_iconv(const char *from, const char *data, size_t n, struct kb_buf *out)
{
    iconv_t cd = iconv_open("UTF-8", from);
    if (cd == (iconv_t)-1)
        return KB_EFORMAT;
    int rc = 0;
    char *in = (char *)data;
    size_t in_left = n;
    char tmp[8192];
    while (in_left > 0 && !rc) {
        char *o = tmp;
        size_t o_left = sizeof tmp;
        size_t r = iconv(cd, &in, &in_left, &o, &o_left);
        if (o > tmp)
            rc = kb_buf_append(out, tmp, (size_t)(o - tmp));
        if (r == (size_t)-1 && errno != E2BIG && !rc)
            rc = KB_ECORRUPT;
    }
    iconv_close(cd);
    return rc;
}

static bool enc_binary(const char *s, size_t n)
{
    size_t ctl = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == 0)
            return true;
        if (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r' && ch != '\f' && ch != 0x1b)
            ctl++;
    }
    return ctl * 20 > n;
}

static const char *enc_alias(const char *cs)
{
    static const struct { const char *name, *use; } map[] = {
        {"gb2312", "GB18030"}, {"gbk", "GB18030"}, {"x-gbk", "GB18030"}, {"gb18030", "GB18030"},
        {"cp936", "GB18030"}, {"utf-8", "UTF-8"}, {"utf8", "UTF-8"}, {"iso-8859-1", "WINDOWS-1252"},
        {"latin1", "WINDOWS-1252"}, {"us-ascii", "WINDOWS-1252"}, {"ascii", "WINDOWS-1252"},
        {"windows-1252", "WINDOWS-1252"}, {"big5", "BIG5"}, {"shift_jis", "SHIFT_JIS"},
        {"euc-jp", "EUC-JP"}, {"euc-kr", "EUC-KR"}, {"utf-16", "UTF-16"}, {"utf-16le", "UTF-16LE"},
        {"utf-16be", "UTF-16BE"},
    };
    for (size_t i = 0; i < KB_ARRAY_LEN(map); i++)
        if (strcasecmp(cs, map[i].name) == 0)
            return map[i].use;
    return cs; /* let iconv try the declared name (windows-1251, koi8-r, ...) */
}

int enc_to_utf8(struct ingest_ctx *c, const char *data, size_t n, const char *charset, struct kb_buf *out,
                const char **charset_out)
{
    const unsigned char *u = (const unsigned char *)data;
    const char *from = NULL;
    size_t skip = 0;
    if (n >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF)
        from = "UTF-8", skip = 3;
    else if (n >= 4 && u[0] == 0xFF && u[1] == 0xFE && u[2] == 0 && u[3] == 0)
        from = "UTF-32LE", skip = 4;
    else if (n >= 4 && u[0] == 0 && u[1] == 0 && u[2] == 0xFE && u[3] == 0xFF)
        from = "UTF-32BE", skip = 4;
    else if (n >= 2 && u[0] == 0xFF && u[1] == 0xFE)
        from = "UTF-16LE", skip = 2;
    else if (n >= 2 && u[0] == 0xFE && u[1] == 0xFF)
        from = "UTF-16BE", skip = 2;
    else if (charset)
        from = enc_alias(charset);

    int rc = KB_ECORRUPT;
    size_t start = out->len;
    if (from) {
        if (strcmp(from, "UTF-8") == 0) {
            rc = kb_utf8_valid(data + skip, n - skip) ? kb_buf_append(out, data + skip, n - skip) : KB_ECORRUPT;
        } else {
            rc = enc_iconv(from, data + skip, n - skip, out);
        }
        if ((rc == KB_ECORRUPT || rc == KB_EFORMAT) && skip == 0) { /* wrong or unknown declaration: detect */
            out->len = start;
            from = NULL;
        }
    }
    if (!from) {
        if (kb_utf8_valid(data, n)) {
            from = "UTF-8";
            rc = kb_buf_append(out, data, n);
        } else {
            from = "GB18030";
            out->len = start;
            rc = enc_iconv(from, data, n, out);
        }
    }
    if (rc == KB_ETOOBIG || rc == KB_ENOMEM) {
        rc = kb_error_set(c->err, rc, "cannot decode '%s': text passes ingest.max_parse_bytes", c->name);
    } else if (rc == KB_ECORRUPT || rc == KB_EFORMAT || (rc == 0 && out->len > start && enc_binary(out->data + start, out->len - start))) {
        rc = kb_error_set(c->err, KB_ECORRUPT,
                          "cannot read '%s': not text (binary data, or an encoding other than UTF-8, UTF-16 "
                          "or GB18030)", c->name);
    }
    if (charset_out)
        *charset_out = from;
    return rc;
}

bool enc_looks_text(const char *data, size_t n)
{
    const unsigned char *u = (const unsigned char *)data;
    if ((n >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) || (n >= 2 && u[0] == 0xFF && u[1] == 0xFE) ||
        (n >= 2 && u[0] == 0xFE && u[1] == 0xFF))
        return true;
    size_t m = KB_MIN(n, (size_t)4096);
    return !enc_binary(data, m);
}
