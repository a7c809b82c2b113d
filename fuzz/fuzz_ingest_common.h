/* fuzz/fuzz_ingest_common.h: the shared ingest fuzz harness (fuzz_ingest_common.c). */
#ifndef KB_FUZZ_INGEST_COMMON_H
#define KB_FUZZ_INGEST_COMMON_H

#include <stddef.h>

#include "ingest/ingest.h"

/* Parses data as fmt (name gives the extension), chunks it, and aborts on a broken invariant. */
void fuzz_ingest_one(const unsigned char *data, size_t size, const char *name, enum ingest_format fmt);

#endif
