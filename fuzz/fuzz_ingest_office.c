/* fuzz/fuzz_ingest_office.c: the zip-based parsers (DOCX, XLSX, PPTX: libzip with the expansion cap,
 * libxml2 without entities, the OOXML walks) on arbitrary bytes. The first byte picks the format or
 * detection. */
#include "fuzz_ingest_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const enum ingest_format fmts[] = {INGEST_FMT_DOCX, INGEST_FMT_XLSX, INGEST_FMT_PPTX, INGEST_FMT_UNKNOWN};
    static const char *const names[] = {"f.docx", "f.xlsx", "f.pptx", "f.zip"};
    if (size < 1)
        return 0;
    size_t k = data[0] % 4;
    fuzz_ingest_one(data + 1, size - 1, names[k], fmts[k]);
    return 0;
}
