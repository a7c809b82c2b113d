/* fuzz/fuzz_text_dict.c: the dictionary segmenter (text/segment.c) on arbitrary bytes. The input up
 * to its first NUL byte is a word list ("word frequency [tag]" lines), written to a temporary file
 * and opened; the rest is text whose CJK runs are cut with it. A malformed list must fail with an
 * error, never crash; every cut must cover its run exactly with increasing word ends. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "text/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_run(void *ud, const char *run, size_t n)
{
    const struct text_dict *d = ud;
    int ends[TEXT_DICT_RUN_MAX], prev = 0;
    bool known[TEXT_DICT_RUN_MAX];
    int k = text_dict_cut(d, run, n, ends, known, TEXT_DICT_RUN_MAX);
    for (int w = 0; w < k; w++) {
        if (ends[w] <= prev || (size_t)ends[w] > n)
            abort();
        prev = ends[w];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t dict_n = nul ? (size_t)(nul - data) : size;
    char path[] = "/tmp/kbox-fuzz-dict-XXXXXX";
    struct text_dict *d = NULL;
    struct kb_error err = {0};
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (write(fd, data, dict_n) == (ssize_t)dict_n && text_dict_open(&d, path, &err) == 0) {
        text_cjk_runs((const char *)data + dict_n, size - dict_n, fz_run, d);
        text_dict_free(d);
    } else if (d) {
        abort(); /* a failed open must leave *out NULL */
    }
    close(fd);
    unlink(path);
    return 0;
}
