/* tests/index/idx_test.h: helpers shared by the index tests: a fresh temporary data directory per
 * test, recursive removal, opening a store with the built-in embedder, and storing a one-chunk
 * document. */
#ifndef KB_TESTS_INDEX_IDX_TEST_H
#define KB_TESTS_INDEX_IDX_TEST_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index/index.h"

static inline void idx_rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char p[4096];
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
            idx_rm_rf(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* mkdtemp under TMPDIR or /tmp; caller frees and removes. */
static inline char *idx_tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s/kbox-index-XXXXXX", t && t[0] ? t : "/tmp");
    if (!mkdtemp(buf))
        abort();
    return kb_xstrdup(buf);
}

static inline int idx_open(struct index_store **st, const char *dir, const struct index_embedder *emb,
                           struct kb_error *err)
{
    struct index_open_opts o;
    memset(&o, 0, sizeof(o));
    o.data_dir = dir;
    o.embedder = emb;
    o.ann_threshold = 200000;
    return index_store_open(st, &o, err);
}

/* Stores one document of one chunk (title and heading may be "" or NULL); 0 and a message on stderr
 * when the store refuses it, which the caller's assertion then names. */
static inline int64_t idx_put_chunk(struct index_store *st, const char *path, const char *title, const char *heading,
                                    const char *text)
{
    struct index_doc d;
    struct index_chunk ch;
    struct kb_error err = {0};
    int64_t id = 0;
    memset(&d, 0, sizeof(d));
    memset(&ch, 0, sizeof(ch));
    d.name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    d.path = path;
    d.mime = "text/plain";
    d.title = title;
    ch.text = text;
    ch.heading_path = heading;
    if (index_doc_replace(st, &d, &ch, 1, NULL, text, strlen(text), &id, &err) != 0) {
        fprintf(stderr, "replace %s: %s\n", path, err.msg);
        return 0;
    }
    return id;
}

#endif
