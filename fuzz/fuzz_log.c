/* fuzz/fuzz_log.c: what the conversation log reads from untrusted bytes (rag/log.c): the question
 * text folded into the clustering key of top questions (rag_log_normalise), and the from/to
 * dates, channel and kind of GET /api/review, /api/stats and /api/logs/export
 * (rag_log_parse_date, rag_log_query_check). Input: a date, a NUL byte, then the question.
 * Properties: no crash or leak; the key is NUL-terminated inside its buffer, valid UTF-8 for valid
 * input, and folding it again changes nothing; a parsed date is never negative. */
#include <stdlib.h>
#include <string.h>

#include "rag/rag_int.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *buf = malloc(size + 1), key[64], again[64];
    const char *nul;
    struct kb_error err = {0};
    struct rag_log_query q = {0};
    int64_t when = -1;
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    nul = memchr(buf, '\0', size);
    const char *question = nul ? nul + 1 : buf;
    if (rag_log_parse_date("from", buf, size % 2 == 0, &when, &err) == 0 && when < 0)
        abort();
    q.channel = buf;
    q.kind = question;
    q.from = when > 0 ? when : 0;
    (void)rag_log_query_check(&q, &err);
    rag_log_normalise(question, key, sizeof key);
    if (strlen(key) >= sizeof key)
        abort();
    if (kb_utf8_valid(question, strlen(question)) && !kb_utf8_valid(key, strlen(key)))
        abort();
    rag_log_normalise(key, again, sizeof again);
    if (strcmp(key, again) != 0)
        abort();
    free(buf);
    return 0;
}
