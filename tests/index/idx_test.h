/* tests/index/idx_test.h: helpers shared by the index tests: a fresh temporary data directory per
 * test, recursive removal, and opening a store with the built-in embedder. */
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

#endif
