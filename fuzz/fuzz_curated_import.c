/* fuzz/fuzz_curated_import.c: the FAQ editor's import parsers on arbitrary bytes, as an uploaded
 * file can hold them: rag/curated.c's CSV reader (rag_curated_csv_parse: quotes, escapes, row ends,
 * caps) and ingest/sheet.c's XLSX cell reader (ingest_sheet_read: zip, shared strings, cell and row
 * references). Input: one byte choosing the parser (even: CSV, odd: XLSX), then the file. Each run
 * must return 0 or a KB_E* code with a message, never crash or leak; a CSV table's cells are valid
 * UTF-8 (the parser refuses anything else). */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "ingest/ingest.h"
#include "rag/rag_int.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct kb_error err = {0};
    int rc;
    if (size < 1 || size > 1 << 20)
        return 0;
    if ((data[0] & 1) == 0) {
        struct rag_table t;
        rc = rag_curated_csv_parse((const char *)data + 1, size - 1, &t, &err);
        if (rc && !err.msg[0])
            abort();
        for (int i = 0; !rc && i < t.n_rows; i++)
            for (int j = 0; j < t.rows[i].n; j++)
                if (!kb_utf8_valid(t.rows[i].cell[j], strlen(t.rows[i].cell[j])))
                    abort();
        rag_table_free(&t);
    } else {
        struct config cfg;
        struct ingest_sheet *s = NULL;
        config_init(&cfg);
        cfg.ingest_max_expanded_bytes = 1 << 22;
        cfg.ingest_max_parse_bytes = 1 << 24;
        rc = ingest_sheet_read(&cfg, data + 1, size - 1, &s, &err);
        if (rc && !err.msg[0])
            abort();
        if (!rc && !s)
            abort();
        ingest_sheet_free(s);
        config_release(&cfg);
    }
    return 0;
}
