/* ingest/zip.c: reading zip containers (DOCX, XLSX, PPTX, EPUB detection): the only libzip includer.
 *
 * Archives are opened over the caller's memory (zip_source_buffer_create, no copy). Entries are read
 * whole into a kb_try_malloc'd buffer with the zip-bomb guard: an entry whose declared size passes
 * ingest.max_expanded_bytes is refused before decompressing, and reading stops with KB_ETOOBIG as
 * soon as the inflated bytes pass the cap, whatever the header claimed. Encrypted entries, bad CRCs
 * and damaged archives are KB_ECORRUPT naming the file and entry. Tests: tests/ingest/test_office.c. */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>
#include <zip.h>

struct zipf {
    zip_t *za; /* owns its source */
};

int zipf_open(struct ingest_ctx *c, const void *data, size_t n, struct zipf **out)
{
    *out = NULL;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, n, 0, &ze);
    if (!src) {
        int rc = kb_error_set(c->err, KB_ENOMEM, "cannot open '%s': %s", c->name, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    zip_t *za = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (!za) {
        int rc = kb_error_set(c->err, KB_ECORRUPT, "cannot open '%s': not a valid zip archive (%s)", c->name,
                              zip_error_strerror(&ze));
        zip_source_free(src);
        zip_error_fini(&ze);
        return rc;
    }
    zip_error_fini(&ze);
    struct zipf *z = kb_xcalloc(1, sizeof *z);
    z->za = za;
    *out = z;
    return 0;
}

bool zipf_has(struct zipf *z, const char *entry)
{
    return zip_name_locate(z->za, entry, 0) >= 0;
}

int zipf_read(struct ingest_ctx *c, struct zipf *z, const char *entry, char **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    zip_int64_t idx = zip_name_locate(z->za, entry, 0);
    if (idx < 0)
        return kb_error_set(c->err, KB_ECORRUPT, "cannot parse '%s': missing part '%s'", c->name, entry);
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z->za, (zip_uint64_t)idx, 0, &st) != 0)
        return kb_error_set(c->err, KB_ECORRUPT, "cannot parse '%s': damaged part '%s'", c->name, entry);
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        return kb_error_set(c->err, KB_ECORRUPT, "cannot parse '%s': part '%s' is encrypted", c->name, entry);
    size_t cap = c->max_expanded_bytes;
    if ((st.valid & ZIP_STAT_SIZE) && st.size > cap)
        return kb_error_set(c->err, KB_ETOOBIG,
                            "cannot parse '%s': part '%s' expands to %llu bytes, past ingest.max_expanded_bytes "
                            "(%zu); possible zip bomb", c->name, entry, (unsigned long long)st.size, cap);
    zip_file_t *f = zip_fopen_index(z->za, (zip_uint64_t)idx, 0);
    if (!f)
        return kb_error_set(c->err, KB_ECORRUPT, "cannot parse '%s': cannot open part '%s' (%s)", c->name, entry,
                            zip_strerror(z->za));
    size_t alloc = (st.valid & ZIP_STAT_SIZE) ? (size_t)st.size + 1 : 65536;
    char *buf = kb_try_malloc(alloc, 1);
    size_t len = 0;
    int rc = buf ? 0 : kb_error_set(c->err, KB_ENOMEM, "cannot parse '%s': out of memory", c->name);
    while (!rc) {
        if (len + 1 >= alloc) {
            size_t na = alloc * 2;
            if (na > cap + 2)
                na = cap + 2;
            char *nb = na > alloc ? kb_try_realloc(buf, na, 1) : NULL;
            if (!nb) {
                rc = na > alloc ? kb_error_set(c->err, KB_ENOMEM, "cannot parse '%s': out of memory", c->name)
                                : kb_error_set(c->err, KB_ETOOBIG,
                                               "cannot parse '%s': part '%s' expands past "
                                               "ingest.max_expanded_bytes (%zu); possible zip bomb",
                                               c->name, entry, cap);
                break;
            }
            buf = nb;
            alloc = na;
        }
        zip_int64_t r = zip_fread(f, buf + len, alloc - 1 - len);
        if (r < 0) {
            rc = kb_error_set(c->err, KB_ECORRUPT, "cannot parse '%s': damaged part '%s' (%s)", c->name, entry,
                              zip_file_strerror(f));
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > cap)
            rc = kb_error_set(c->err, KB_ETOOBIG,
                              "cannot parse '%s': part '%s' expands past ingest.max_expanded_bytes (%zu); possible "
                              "zip bomb", c->name, entry, cap);
    }
    zip_fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    *n_out = len;
    return 0;
}

void zipf_close(struct zipf *z)
{
    if (!z)
        return;
    zip_discard(z->za);
    free(z);
}

enum ingest_format zipf_sniff(const void *data, size_t n, bool *readable)
{
    zip_error_t ze;
    zip_error_init(&ze);
    enum ingest_format f = INGEST_FMT_UNKNOWN;
    zip_source_t *src = zip_source_buffer_create(data, n, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
    *readable = za != NULL;
    if (!za) {
        zip_source_free(src);
    } else {
        if (zip_name_locate(za, "word/document.xml", 0) >= 0)
            f = INGEST_FMT_DOCX;
        else if (zip_name_locate(za, "xl/workbook.xml", 0) >= 0)
            f = INGEST_FMT_XLSX;
        else if (zip_name_locate(za, "ppt/presentation.xml", 0) >= 0)
            f = INGEST_FMT_PPTX;
        else if (zip_name_locate(za, "META-INF/container.xml", 0) >= 0)
            f = INGEST_FMT_EPUB;
        zip_discard(za);
    }
    zip_error_fini(&ze);
    return f;
}

int zipf_write(const char *const *names, const char *const *datas, const size_t *lens, int n, struct kb_buf *out,
               struct kb_error *err)
{
    zip_error_t ze;
    zip_source_t *src;
    zip_t *za = NULL;
    zip_stat_t st;
    int rc = 0;
    zip_error_init(&ze);
    src = zip_source_buffer_create(NULL, 0, 0, &ze);
    if (src)
        za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    if (!za) {
        rc = kb_error_set(err, KB_ENOMEM, "cannot create a zip archive: %s", zip_error_strerror(&ze));
        zip_source_free(src);
        zip_error_fini(&ze);
        return rc;
    }
    zip_source_keep(src); /* the written bytes stay readable after zip_close */
    for (int i = 0; i < n && !rc; i++) {
        zip_source_t *part = zip_source_buffer(za, datas[i], lens[i], 0);
        if (!part || zip_file_add(za, names[i], part, ZIP_FL_ENC_UTF_8) < 0) {
            zip_source_free(part);
            rc = kb_error_set(err, KB_EINTERNAL, "cannot add '%s' to a zip archive: %s", names[i], zip_strerror(za));
        }
    }
    if (rc) {
        zip_discard(za);
    } else if (zip_close(za) != 0) {
        rc = kb_error_set(err, KB_EINTERNAL, "cannot write a zip archive: %s", zip_strerror(za));
        zip_discard(za);
    }
    zip_stat_init(&st);
    if (!rc && (zip_source_stat(src, &st) != 0 || zip_source_open(src) != 0))
        rc = kb_error_set(err, KB_EINTERNAL, "cannot read back the zip archive");
    if (!rc) {
        char chunk[16384];
        zip_int64_t got;
        while (!rc && (got = zip_source_read(src, chunk, sizeof chunk)) > 0)
            rc = kb_buf_append(out, chunk, (size_t)got);
        zip_source_close(src);
        if (rc)
            rc = kb_error_set(err, rc, "the zip archive is too large");
    }
    zip_source_free(src);
    zip_error_fini(&ze);
    return rc;
}
