/* fuzz/fuzz_ingest_text.c: plain text, Markdown and CSV parsers (encoding detection included) and
 * the chunker on arbitrary bytes. The first byte picks the format; the rest is the file. */
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"

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

static void fuzz_ingest_one(const unsigned char *data, size_t size, const char *name, enum ingest_format fmt)
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

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const enum ingest_format fmts[] = {INGEST_FMT_TEXT, INGEST_FMT_MARKDOWN, INGEST_FMT_CSV,
                                              INGEST_FMT_UNKNOWN};
    static const char *const names[] = {"f.txt", "f.md", "f.csv", "f"};
    if (size < 1)
        return 0;
    size_t k = data[0] % 4;
    fuzz_ingest_one(data + 1, size - 1, names[k], fmts[k]);
    return 0;
}
