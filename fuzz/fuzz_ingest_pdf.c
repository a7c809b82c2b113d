/* fuzz/fuzz_ingest_pdf.c: the PDF path (MuPDF opening, structured text, header/footer and heading
 * detection) and the chunker on arbitrary bytes. */
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
    fuzz_ingest_one(data, size, "f.pdf", INGEST_FMT_PDF);
    return 0;
}
