/* fuzz/fuzz_remote_embed.c: the remote embeddings response decoder (rag/remote_embed.c,
 * remote_embed_parse) on arbitrary bytes, as a remote server or a proxy could send them. The first
 * byte picks the number of inputs asked for (1..8) and whether the dimension is known (the second
 * byte, 0: learnt from the response). Each run must return 0 with n x dim unit-or-zero vectors, or
 * a KB_E* code the header names (never crash, never leak). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rag/rag_int.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct kb_error err = {0};
    float *x = NULL;
    if (size < 2)
        return 0;
    int n = data[0] % 8 + 1, dim = data[1] % 5; /* 0 learns it */
    char *body = malloc(size - 1); /* NUL-terminated, as the kb_buf of a response is */
    if (!body)
        return 0;
    memcpy(body, data + 2, size - 2);
    body[size - 2] = '\0';
    int rc = remote_embed_parse(body, size - 2, n, &dim, &x, &err);
    free(body);
    if (rc == 0) {
        if (!x || dim < 1 || dim > REMOTE_EMBED_MAX_DIM)
            abort();
        for (int i = 0; i < n; i++) {
            double ss = 0;
            for (int k = 0; k < dim; k++)
                ss += (double)x[(size_t)i * (size_t)dim + (size_t)k] * x[(size_t)i * (size_t)dim + (size_t)k];
            if (ss != 0 && fabs(ss - 1) > 1e-3)
                abort();
        }
    } else if (x || (rc != KB_EJSON && rc != KB_EIO && rc != KB_ECORRUPT && rc != KB_ECONFIG && rc != KB_ENOMEM)) {
        abort();
    }
    free(x);
    return 0;
}
