/* fuzz/fuzz_ingest_common.c: the harness every ingest fuzz target shares: parse arbitrary bytes as
 * one format with small limits, chunk the result, and abort on any broken invariant (a parse that
 * succeeds with no blocks, a failure without a message, a chunk outside the document's text). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_ingest_common.h"

/* Small limits so a slow input shows up quickly; 0 with blocks or a negative code with a message. */
static const struct config *fuzz_ingest_cfg(void)
{
    static struct config cfg;
    static int ready;
    if (!ready) {
        config_init(&cfg);
        cfg.ingest_max_parse_seconds = 5;
        cfg.ingest_max_expanded_bytes = 8 << 20;
        cfg.ingest_max_parse_bytes = 256 << 20;
        ready = 1;
    }
    return &cfg;
}

void fuzz_ingest_one(const unsigned char *data, size_t size, const char *name, enum ingest_format fmt)
{
    const struct config *cfg = fuzz_ingest_cfg();
    struct kb_error err = {0};
    struct ingest_doc *doc = NULL;
    int rc = ingest_parse_memory(cfg, data, size, name, fmt, &doc, &err);
    if (rc == 0) {
        if (!doc || doc->n_blocks == 0)
            abort();
        if (ingest_chunk(cfg, doc, &err) != 0 && err.code != KB_ETOOBIG && err.code != KB_ENOMEM)
            abort();
        for (size_t i = 0; i < doc->n_chunks; i++)
            if (!doc->chunks[i].text || doc->chunks[i].off_end > doc->text_bytes)
                abort();
    } else if (rc > 0 || doc || err.msg[0] == '\0') {
        abort();
    }
    ingest_doc_free(doc);
}
