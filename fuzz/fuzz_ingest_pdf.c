/* fuzz/fuzz_ingest_pdf.c: the PDF path (MuPDF opening, structured text, header/footer and heading
 * detection) and the chunker on arbitrary bytes. */
#include "fuzz_ingest_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    fuzz_ingest_one(data, size, "f.pdf", INGEST_FMT_PDF);
    return 0;
}
