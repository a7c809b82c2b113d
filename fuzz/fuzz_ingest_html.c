/* fuzz/fuzz_ingest_html.c: the HTML parser (charset sniffing, libxml2's HTML parser, the tree walk)
 * and the chunker on arbitrary bytes. */
#include "fuzz_ingest_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    fuzz_ingest_one(data, size, "f.html", INGEST_FMT_HTML);
    return 0;
}
