/* fuzz/fuzz_tzif.c: the TZif reader (base/tz.c) on arbitrary bytes. It must not crash or read out
 * of bounds; a file it accepts must give, at any time, an offset within the bounds it checks
 * (|offset| <= 26 h) and the same offset when asked twice. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const int64_t when[] = {INT64_C(-4000000000), -1, 0, 1700000000, 2147483647, INT64_C(2240524800),
                                   INT64_C(32503680000)};
    struct kb_error err = {0};
    struct kb_tz *tz = NULL;
    if (kb_tz_parse(data, size, &tz, &err) != 0) {
        if (tz || !err.msg[0])
            abort(); /* a refusal says why and hands nothing back */
        return 0;
    }
    for (size_t i = 0; i < sizeof when / sizeof when[0]; i++) {
        int32_t off = kb_tz_offset(tz, when[i]);
        if (off < -26 * 3600 || off > 26 * 3600 || off != kb_tz_offset(tz, when[i]))
            abort();
    }
    kb_tz_free(tz);
    return 0;
}
