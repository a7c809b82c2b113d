/* infer/tok_wpm.c: WordPiece ("bert" vocabularies), as llama.cpp runs it.
 *
 * Normalisation (BertNormalizer): accents stripped (each code point replaced by the first code
 * point of its NFD form, combining marks dropped) and lower-casing, both on unless the GGUF says
 * otherwise; control characters, NUL and U+FFFD dropped. Words end at whitespace; punctuation,
 * ASCII symbols and CJK ideographs are words of their own. Each word gets the phantom-space prefix
 * U+2581 (llama.cpp stores word-initial pieces as "▁piece" and continuations bare) and is cut
 * greedily into the longest tokens from the left; a word that cannot be cut entirely becomes the
 * unknown token. Tests: test_tok.c. */
#include <stdlib.h>
#include <string.h>

#include "infer/tok_int.h"

static bool is_chinese(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* Greedy longest-match of one word (already prefixed with U+2581) into out. */
static void wpm_word(const struct tok_vocab *v, const char *w, size_t n, struct tok_ids *out)
{
    size_t first = out->n;
    for (size_t i = 0; i < n; i++) {
        bool match = false;
        for (size_t j = KB_MIN(n, i + (size_t)v->max_token_len + 1); j > i; j--) {
            int32_t id = tok_lookup(v, w + i, j - i);
            if (id != TOK_NULL) {
                tok_ids_push(out, id);
                match = true;
                i = j - 1;
                break;
            }
        }
        if (!match) {
            if (!out->oom)
                out->n = first; /* discard the partial word */
            break;
        }
    }
    if (out->n == first && v->special[TOK_UNK] != TOK_NULL)
        tok_ids_push(out, v->special[TOK_UNK]);
}

int tok_wpm_encode(const struct tok_vocab *v, const char *text, size_t n, struct tok_ids *out)
{
    char *w = kb_try_malloc(n + 1, 12); /* "▁" + up to 4 bytes per (lower-cased) code point */
    size_t m = 0;
    if (!w)
        return KB_ENOMEM;
#define FLUSH()                                                                                              \
    do {                                                                                                     \
        if (m > 0)                                                                                           \
            wpm_word(v, w, m + 3, out);                                                                      \
        m = 0;                                                                                               \
    } while (0)
    memcpy(w, "\xe2\x96\x81", 3);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)kb_utf8_decode_lenient(text + i, n - i, &cp);
        if (v->strip_accents)
            cp = tok_nfd_first(cp);
        if (tok_is_ws(cp)) {
            FLUSH();
            continue;
        }
        enum tok_ucat c = tok_ucat(cp);
        if (cp == 0 || cp == 0xFFFD || c == UCAT_C)
            continue;
        if (v->strip_accents && c == UCAT_M)
            continue;
        uint32_t lc = v->lowercase ? tok_tolower(cp) : cp;
        if (c == UCAT_P || (cp < 0x7F && c == UCAT_S) || is_chinese(cp)) {
            FLUSH();
            m = (size_t)kb_utf8_encode_lenient(lc, w + 3);
            FLUSH();
        } else {
            m += (size_t)kb_utf8_encode_lenient(lc, w + 3 + m);
        }
    }
    FLUSH();
#undef FLUSH
    free(w);
    return out->oom ? KB_ENOMEM : 0;
}
