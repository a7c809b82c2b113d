/* fuzz/fuzz_ingest_text.c: plain text, Markdown and CSV parsers (encoding detection included) and
 * the chunker on arbitrary bytes. The first byte picks the format; the rest is the file. */
#include "fuzz_ingest_common.h"

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
