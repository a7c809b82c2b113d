/* infer/tok_pre.c: the byte-level BPE pre-tokenizers, i.e. the regular expressions llama.cpp splits
 * text with before BPE, written as small C data programs run by a tiny backtracking matcher.
 *
 * llama.cpp runs each pre-tokenizer as a list of regexes applied one after the other: every regex
 * splits every fragment left by the previous one into its matches and the unmatched gaps between
 * them (a gap stays one fragment). A regex is an ordered alternation; each alternative here is a
 * sequence of up to six character-class atoms with greedy {min,max} counts, optionally followed
 * by "(?!\S)" or "$"; an optional group at the end of an alternative (gpt-4o's contractions) is
 * written as one alternative per choice followed by the one without it, which ordered alternation
 * makes equivalent there. That covers every pre-tokenizer kbox supports.
 *
 * What a class matches depends on how llama.cpp evaluates the regex, which we reproduce:
 *   MODE_UNI: its hand-written GPT-2 and Llama 3 splitters: Unicode categories of the code point;
 *   MODE_COLLAPSED: std::regex over a "collapsed" string: ASCII stays itself (so \p{S} covers only
 *     $+<=>^`| and not '~'), other code points become one byte per category, non-ASCII
 *     whitespace becomes \v;
 *   MODE_RAW: std::wregex on the code points for regexes with literal ranges only: \s is ASCII
 *     whitespace plus non-ASCII whitespace (which llama.cpp rewrites to \v first, so it no longer
 *     matches literal ranges, e.g. U+3000 in deepseek-llm's "　-。").
 * Invariants: matches are never empty; no allocation (callers give scratch). Tests: test_tok.c. */
#include <string.h>

#include "infer/tok_int.h"

enum { MODE_UNI, MODE_COLLAPSED, MODE_RAW };
/* category bits of a code point under a mode */
enum { CB_L = 1, CB_N = 2, CB_P = 4, CB_S = 8, CB_M = 16, CB_WS = 32 };
enum { TAIL_NONE, TAIL_NOT_NONSPACE, TAIL_END };
#define INF 0xFFFF

struct pre_class {
    uint8_t neg;            /* match when NOT (cats hit or unit in ranges, and unit not in excl) */
    uint8_t cats;           /* CB_* */
    uint8_t n_ranges;       /* pairs in ranges */
    const uint32_t *ranges; /* inclusive [lo, hi] pairs over units */
    uint8_t n_excl;         /* pairs in excl */
    const uint32_t *excl;   /* units taken out of the class (gpt-4o: "a letter but not a-z") */
};
struct pre_atom {
    struct pre_class c;
    uint16_t min, max;
};
struct pre_alt {
    uint8_t n_atoms;
    uint8_t tail;
    struct pre_atom a[6];
};
struct pre_regex {
    uint8_t mode;
    uint8_t n_alts;
    const struct pre_alt *alts;
};

/* ---- classes ---------------------------------------------------------------------------------------- */

/* clang-format off */
static const uint32_t r_crlf[] = {'\n', '\n', '\r', '\r'};
static const uint32_t r_space[] = {' ', ' '};
static const uint32_t r_apos[] = {'\'', '\''};
static const uint32_t r_s[] = {'s', 's', 'S', 'S'}, r_t[] = {'t', 't', 'T', 'T'}, r_r[] = {'r', 'r', 'R', 'R'};
static const uint32_t r_e[] = {'e', 'e', 'E', 'E'}, r_v[] = {'v', 'v', 'V', 'V'}, r_m[] = {'m', 'm', 'M', 'M'};
static const uint32_t r_l[] = {'l', 'l', 'L', 'L'}, r_d[] = {'d', 'd', 'D', 'D'};
static const uint32_t r_sl[] = {'s', 's'}, r_tl[] = {'t', 't'}, r_rl[] = {'r', 'r'}, r_el[] = {'e', 'e'};
static const uint32_t r_vl[] = {'v', 'v'}, r_ml[] = {'m', 'm'}, r_ll[] = {'l', 'l'}, r_dl[] = {'d', 'd'};
static const uint32_t r_digit[] = {'0', '9'};
static const uint32_t r_lower[] = {'a', 'z'}, r_upper[] = {'A', 'Z'};
static const uint32_t r_crlf_slash[] = {'\n', '\n', '\r', '\r', '/', '/'};
static const uint32_t r_alpha[] = {'A', 'Z', 'a', 'z'};
static const uint32_t r_ascii_punct[] = {0x21, 0x2F, 0x3A, 0x40, 0x5B, 0x60, 0x7B, 0x7E};
static const uint32_t r_default_sym[] = {'$', '$', '+', '+', '<', '>', '^', '^', '~', '~', '|', '|'};
static const uint32_t r_falcon_sym[] = {'$', '$', '+', '+', '<', '>', '^', '^', '~', '~', '|', '|', '`', '`'};
static const uint32_t r_ds_llm_letters[] = {
    0x41, 0x5a, 0x61, 0x7a, 0xb5, 0xb5, 0xc0, 0xd6, 0xd8, 0xf6, 0xf8, 0x1ba, 0x1bc, 0x1bf, 0x1c4, 0x293,
    0x295, 0x2af, 0x370, 0x373, 0x376, 0x376, 0x377, 0x377, 0x37b, 0x37d, 0x37f, 0x37f, 0x386, 0x386,
    0x388, 0x38a, 0x38c, 0x38c, 0x38e, 0x3a1, 0x3a3, 0x3f5, 0x3f7, 0x481, 0x48a, 0x52f, 0x531, 0x556,
    0x10a0, 0x10c5, 0x13a0, 0x13f5, 0x13f8, 0x13fd, 0x1c90, 0x1cba, 0x1cbd, 0x1cbf, 0x1d00, 0x1d2b,
    0x1d6b, 0x1d77, 0x1d79, 0x1d9a, 0x1e00, 0x1f15, 0x1f18, 0x1f1d, 0x1f20, 0x1f45, 0x1f48, 0x1f4d,
    0x1f50, 0x1f57, 0x1f59, 0x1f59, 0x1f5b, 0x1f5b, 0x1f5d, 0x1f5d, 0x1f5f, 0x1f7d, 0x1f80, 0x1fb4,
    0x1fb6, 0x1fbc, 0x1fbe, 0x1fbe, 0x1fc2, 0x1fc4, 0x1fc6, 0x1fcc, 0x1fd0, 0x1fd3, 0x1fd6, 0x1fdb,
    0x1fe0, 0x1fec, 0x1ff2, 0x1ff4, 0x1ff6, 0x1ffc, 0x2102, 0x2102, 0x2107, 0x2107, 0x210a, 0x2113,
    0x2115, 0x2115, 0x2119, 0x211d, 0x2124, 0x2124, 0x2126, 0x2126, 0x2128, 0x2128, 0x212a, 0x212d,
    0x212f, 0x2134, 0x2139, 0x2139, 0x213c, 0x213f, 0x2145, 0x2149, 0x214e, 0x214e, 0x2183, 0x2183,
    0x2184, 0x2184, 0x2c00, 0x2c7b, 0x2c7e, 0x2ce4, 0x2ceb, 0x2cee, 0x2cf2, 0x2cf2, 0x2cf3, 0x2cf3,
    0xa640, 0xa66d, 0xa680, 0xa69b, 0xa722, 0xa76f, 0xa771, 0xa787, 0xa78b, 0xa78e, 0xab70, 0xabbf,
    0xfb00, 0xfb06, 0xfb13, 0xfb17, 0xff21, 0xff3a, 0xff41, 0xff5a, 0x10400, 0x1044f, 0x104b0, 0x104d3,
    0x104d8, 0x104fb, 0x10c80, 0x10cb2, 0x10cc0, 0x10cf2, 0x118a0, 0x118df, 0x1e900, 0x1e943,
};
static const uint32_t r_ds_llm_punct[] = {
    0x21, 0x2f, 0x3a, 0x7e, 0xff01, 0xff0f, 0xff1a, 0xff5e, 0x2018, 0x201f, 0x3000, 0x3002,
};
static const uint32_t r_cjk_llm[] = {
    0x4e00, 0x9fa5, 0x800, 0x4e00, 0xac00, 0xd7ff,
};
static const uint32_t r_cjk_v3[] = {
    0x4e00, 0x9fa5, 0x3040, 0x309f, 0x30a0, 0x30ff,
};

#define RANGES(r) (uint8_t)(KB_ARRAY_LEN(r) / 2), r
#define CLS(neg, cats) {neg, cats, 0, NULL, 0, NULL}
#define CLSR(neg, cats, r) {neg, cats, RANGES(r), 0, NULL}
#define CLSX(cats, x) {0, cats, 0, NULL, RANGES(x)}
#define ONE(c) {c, 1, 1}
#define PLUS(c) {c, 1, INF}
#define STAR(c) {c, 0, INF}
#define OPT(c) {c, 0, 1}

#define c_ws CLS(0, CB_WS)
#define c_l CLS(0, CB_L)
#define c_n CLS(0, CB_N)
#define c_p CLS(0, CB_P)
#define c_not_ws_l_n CLS(1, CB_WS | CB_L | CB_N)
#define c_not_crlf_l_n CLSR(1, CB_L | CB_N, r_crlf)
#define c_crlf CLSR(0, 0, r_crlf)
#define c_space CLSR(0, 0, r_space)
#define c_apos CLSR(0, 0, r_apos)

/* The contraction alternatives: case-insensitive for Llama 3 / Qwen2 style, lower case for GPT-2. */
#define CONTRACTIONS(S, T, R, E, V, M, L, D)                                                            \
    {2, TAIL_NONE, {ONE(c_apos), ONE(CLSR(0, 0, S))}}, {2, TAIL_NONE, {ONE(c_apos), ONE(CLSR(0, 0, T))}}, \
    {3, TAIL_NONE, {ONE(c_apos), ONE(CLSR(0, 0, R)), ONE(CLSR(0, 0, E))}},                               \
    {3, TAIL_NONE, {ONE(c_apos), ONE(CLSR(0, 0, V)), ONE(CLSR(0, 0, E))}},                               \
    {2, TAIL_NONE, {ONE(c_apos), ONE(CLSR(0, 0, M))}},                                                   \
    {3, TAIL_NONE, {ONE(c_apos), ONE(CLSR(0, 0, L)), ONE(CLSR(0, 0, L))}},                               \
    {2, TAIL_NONE, {ONE(c_apos), ONE(CLSR(0, 0, D))}}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ (GPT-2; the custom
 * splitter adds the final \s+) */
static const struct pre_alt alts_gpt2[] = {
    CONTRACTIONS(r_sl, r_tl, r_rl, r_el, r_vl, r_ml, r_ll, r_dl),
    {2, TAIL_NONE, {OPT(c_space), PLUS(c_l)}},
    {2, TAIL_NONE, {OPT(c_space), PLUS(c_n)}},
    {2, TAIL_NONE, {OPT(c_space), PLUS(c_not_ws_l_n)}},
    {1, TAIL_NOT_NONSPACE, {PLUS(c_ws)}},
    {1, TAIL_NONE, {PLUS(c_ws)}},
};
/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+ (Llama 3; Qwen2 is the same with \p{N} instead of \p{N}{1,3}) */
#define LLAMA3_ALTS(NMAX)                                                                                \
    CONTRACTIONS(r_s, r_t, r_r, r_e, r_v, r_m, r_l, r_d),                                                 \
    {2, TAIL_NONE, {OPT(c_not_crlf_l_n), PLUS(c_l)}},                                                     \
    {1, TAIL_NONE, {{c_n, 1, NMAX}}},                                                                     \
    {3, TAIL_NONE, {OPT(c_space), PLUS(c_not_ws_l_n), STAR(c_crlf)}},                                     \
    {2, TAIL_NONE, {STAR(c_ws), PLUS(c_crlf)}},                                                           \
    {1, TAIL_NOT_NONSPACE, {PLUS(c_ws)}},                                                                 \
    {1, TAIL_NONE, {PLUS(c_ws)}}
static const struct pre_alt alts_llama3[] = {LLAMA3_ALTS(3)};
static const struct pre_alt alts_qwen2[] = {LLAMA3_ALTS(1)};

/* default / falcon: [\p{P}\$\+<=>\^~\|]+ (falcon adds `) ; \p{N}+ ; [0-9][0-9][0-9] ; \p{N} */
static const struct pre_alt alts_default_sym[] = {{1, TAIL_NONE, {PLUS(CLSR(0, CB_P, r_default_sym))}}};
static const struct pre_alt alts_falcon_sym[] = {{1, TAIL_NONE, {PLUS(CLSR(0, CB_P, r_falcon_sym))}}};
static const struct pre_alt alts_nplus[] = {{1, TAIL_NONE, {PLUS(c_n)}}};
static const struct pre_alt alts_n1[] = {{1, TAIL_NONE, {ONE(c_n)}}};
static const struct pre_alt alts_n3[] = {{1, TAIL_NONE, {{c_n, 1, 3}}}};
static const struct pre_alt alts_digit3[] = {{1, TAIL_NONE, {{CLSR(0, 0, r_digit), 3, 3}}}};
static const struct pre_alt alts_crlf1[] = {{1, TAIL_NONE, {ONE(c_crlf)}}};

/* deepseek-llm: \s?[A-Za-zµÀ-Ö...]+ ; \s?[!-/:-~！-／：-～‘-‟　-。]+ ; \s+$ ; [一-龥ࠀ-一가-퟿]+ */
static const struct pre_alt alts_dsl_letters[] = {
    {2, TAIL_NONE, {OPT(c_ws), PLUS(CLSR(0, 0, r_ds_llm_letters))}}};
static const struct pre_alt alts_dsl_punct[] = {{2, TAIL_NONE, {OPT(c_ws), PLUS(CLSR(0, 0, r_ds_llm_punct))}}};
static const struct pre_alt alts_ws_end[] = {{1, TAIL_END, {PLUS(c_ws)}}};
static const struct pre_alt alts_cjk_llm[] = {{1, TAIL_NONE, {PLUS(CLSR(0, 0, r_cjk_llm))}}};
/* deepseek-coder: \s?\p{L}+ ; \s?\p{P}+ */
static const struct pre_alt alts_ws_l[] = {{2, TAIL_NONE, {OPT(c_ws), PLUS(c_l)}}};
static const struct pre_alt alts_ws_p[] = {{2, TAIL_NONE, {OPT(c_ws), PLUS(c_p)}}};
/* deepseek-v3: [一-龥぀-ゟ゠-ヿ]+ ; [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|
 * [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static const struct pre_alt alts_cjk_v3[] = {{1, TAIL_NONE, {PLUS(CLSR(0, 0, r_cjk_v3))}}};
static const struct pre_alt alts_v3_main[] = {
    {2, TAIL_NONE, {ONE(CLSR(0, 0, r_ascii_punct)), PLUS(CLSR(0, 0, r_alpha))}},
    {2, TAIL_NONE, {OPT(CLSR(1, CB_L | CB_P | CB_S, r_crlf)), PLUS(CLS(0, CB_L | CB_M))}},
    {3, TAIL_NONE, {OPT(c_space), PLUS(CLS(0, CB_P | CB_S)), STAR(c_crlf)}},
    {2, TAIL_NONE, {STAR(c_ws), PLUS(c_crlf)}},
    {1, TAIL_NOT_NONSPACE, {PLUS(c_ws)}},
    {1, TAIL_NONE, {PLUS(c_ws)}},
};

/* gpt-4o (gpt-oss, llama4), as llama.cpp runs it on the collapsed text (non-ASCII letters are one
 * "letter" unit, so "a letter but not a-z" holds upper-case ASCII and every non-ASCII letter):
 *   [^\r\n\p{L}\p{N}]?U*W+C?|[^\r\n\p{L}\p{N}]?U+W*C?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|
 *   \s*[\r\n]+|\s+(?!\S)|\s+
 * with U = (?=\p{L})[^a-z], W = (?=\p{L})[^A-Z], C = '[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]. */
#define c_up CLSX(CB_L, r_lower)
#define c_lo CLSX(CB_L, r_upper)
/* UMIN, WMIN: the least counts of U and W (0 or 1); both are greedy without bound */
#define OSS_C1(UMIN, WMIN, A)                                                                                 \
    {5, TAIL_NONE, {OPT(c_not_crlf_l_n), {c_up, UMIN, INF}, {c_lo, WMIN, INF}, ONE(c_apos), ONE(CLSR(0, 0, A))}}
#define OSS_C2(UMIN, WMIN, A, B)                                                                              \
    {6, TAIL_NONE,                                                                                            \
     {OPT(c_not_crlf_l_n), {c_up, UMIN, INF}, {c_lo, WMIN, INF}, ONE(c_apos), ONE(CLSR(0, 0, A)),              \
      ONE(CLSR(0, 0, B))}}
#define OSS_WORD(UMIN, WMIN)                                                                                  \
    OSS_C1(UMIN, WMIN, r_s), OSS_C1(UMIN, WMIN, r_t), OSS_C2(UMIN, WMIN, r_r, r_e),                            \
    OSS_C2(UMIN, WMIN, r_v, r_e), OSS_C1(UMIN, WMIN, r_m), OSS_C2(UMIN, WMIN, r_l, r_l),                       \
    OSS_C1(UMIN, WMIN, r_d), {3, TAIL_NONE, {OPT(c_not_crlf_l_n), {c_up, UMIN, INF}, {c_lo, WMIN, INF}}}
static const struct pre_alt alts_gpt4o[] = {
    OSS_WORD(0, 1),
    OSS_WORD(1, 0),
    {1, TAIL_NONE, {{c_n, 1, 3}}},
    {3, TAIL_NONE, {OPT(c_space), PLUS(c_not_ws_l_n), STAR(CLSR(0, 0, r_crlf_slash))}},
    {2, TAIL_NONE, {STAR(c_ws), PLUS(c_crlf)}},
    {1, TAIL_NOT_NONSPACE, {PLUS(c_ws)}},
    {1, TAIL_NONE, {PLUS(c_ws)}},
};

#define RX(mode, alts) {mode, (uint8_t)KB_ARRAY_LEN(alts), alts}
static const struct pre_regex rx_gpt2 = RX(MODE_UNI, alts_gpt2);
static const struct pre_regex rx_llama3 = RX(MODE_UNI, alts_llama3);
static const struct pre_regex rx_qwen2 = RX(MODE_COLLAPSED, alts_qwen2);
static const struct pre_regex rx_default_sym = RX(MODE_COLLAPSED, alts_default_sym);
static const struct pre_regex rx_falcon_sym = RX(MODE_COLLAPSED, alts_falcon_sym);
static const struct pre_regex rx_nplus = RX(MODE_COLLAPSED, alts_nplus);
static const struct pre_regex rx_n1 = RX(MODE_COLLAPSED, alts_n1);
static const struct pre_regex rx_n3 = RX(MODE_COLLAPSED, alts_n3);
static const struct pre_regex rx_digit3 = RX(MODE_RAW, alts_digit3);
static const struct pre_regex rx_crlf1 = RX(MODE_RAW, alts_crlf1);
static const struct pre_regex rx_dsl_letters = RX(MODE_RAW, alts_dsl_letters);
static const struct pre_regex rx_dsl_punct = RX(MODE_RAW, alts_dsl_punct);
static const struct pre_regex rx_ws_end = RX(MODE_RAW, alts_ws_end);
static const struct pre_regex rx_cjk_llm = RX(MODE_RAW, alts_cjk_llm);
static const struct pre_regex rx_ws_l = RX(MODE_COLLAPSED, alts_ws_l);
static const struct pre_regex rx_ws_p = RX(MODE_COLLAPSED, alts_ws_p);
static const struct pre_regex rx_cjk_v3 = RX(MODE_RAW, alts_cjk_v3);
static const struct pre_regex rx_v3_main = RX(MODE_COLLAPSED, alts_v3_main);
static const struct pre_regex rx_gpt4o = RX(MODE_COLLAPSED, alts_gpt4o);

/* The regex lists per pre-tokenizer, in llama.cpp's order. */
static const struct pre_regex *const programs[PRE_COUNT][7] = {
    [PRE_DEFAULT] = {&rx_default_sym, &rx_gpt2, &rx_nplus, &rx_digit3},
    [PRE_GPT2] = {&rx_gpt2},
    [PRE_LLAMA3] = {&rx_llama3},
    [PRE_QWEN2] = {&rx_qwen2},
    [PRE_DEEPSEEK_LLM] = {&rx_crlf1, &rx_dsl_letters, &rx_dsl_punct, &rx_ws_end, &rx_cjk_llm, &rx_nplus},
    [PRE_DEEPSEEK_CODER] = {&rx_crlf1, &rx_ws_l, &rx_ws_p, &rx_cjk_llm, &rx_n1},
    [PRE_DEEPSEEK3] = {&rx_n3, &rx_cjk_v3, &rx_v3_main},
    [PRE_FALCON] = {&rx_falcon_sym, &rx_gpt2, &rx_digit3},
    [PRE_STARCODER] = {&rx_n1, &rx_gpt2},
    [PRE_GPT4O] = {&rx_gpt4o},
};

/* clang-format on */

/* ---- matcher ---------------------------------------------------------------------------------------- */

static uint8_t ucat_bits(enum tok_ucat c)
{
    switch (c) {
    case UCAT_L:
        return CB_L;
    case UCAT_N:
        return CB_N;
    case UCAT_P:
        return CB_P;
    case UCAT_S:
        return CB_S;
    case UCAT_M:
        return CB_M;
    default:
        return 0;
    }
}

/* ASCII under MODE_COLLAPSED: llama.cpp's k_ucat_map (note '~' is in no category there). */
static uint8_t ascii_collapsed(uint32_t c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
        return CB_L;
    if (c >= '0' && c <= '9')
        return CB_N;
    if (c == ' ' || (c >= 0x09 && c <= 0x0D))
        return CB_WS;
    if (c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' || c == '`' || c == '|')
        return CB_S;
    if ((c >= 0x21 && c <= 0x2F) || c == ':' || c == ';' || c == '?' || c == '@' || (c >= '[' && c <= ']') ||
        c == '_' || c == '{' || c == '}')
        return CB_P;
    return 0;
}

static void classify(int mode, const uint32_t *cps, size_t n, uint8_t *cat, uint32_t *unit)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = cps[i];
        bool ws = tok_is_ws(cp);
        unit[i] = cp;
        switch (mode) {
        case MODE_UNI:
            cat[i] = (uint8_t)(ucat_bits(tok_ucat(cp)) | (ws ? CB_WS : 0));
            break;
        case MODE_COLLAPSED:
            if (cp < 0x80) {
                cat[i] = ascii_collapsed(cp);
            } else {
                cat[i] = ws ? CB_WS : ucat_bits(tok_ucat(cp));
                unit[i] = ws ? 0x0B : 0xFFFFFFFFu;
            }
            break;
        default: /* MODE_RAW */
            cat[i] = ws ? CB_WS : 0;
            if (ws && cp >= 0x80)
                unit[i] = 0x0B;
            break;
        }
    }
}

static bool class_match(const struct pre_class *c, uint8_t cat, uint32_t unit)
{
    bool hit = (cat & c->cats) != 0;
    for (int i = 0; !hit && i < c->n_ranges; i++)
        hit = unit >= c->ranges[2 * i] && unit <= c->ranges[2 * i + 1];
    for (int i = 0; hit && i < c->n_excl; i++)
        hit = !(unit >= c->excl[2 * i] && unit <= c->excl[2 * i + 1]);
    return c->neg ? !hit : hit;
}

/* Matches atoms[i..] of alt at pos; returns the end, or -1. Greedy with backtracking. */
static long match_seq(const struct pre_alt *alt, int i, size_t pos, size_t end, const uint8_t *cat,
                      const uint32_t *unit)
{
    if (i == alt->n_atoms) {
        if (alt->tail == TAIL_END && pos != end)
            return -1;
        if (alt->tail == TAIL_NOT_NONSPACE && pos < end && !(cat[pos] & CB_WS))
            return -1;
        return (long)pos;
    }
    if (i >= (int)KB_ARRAY_LEN(alt->a)) /* n_atoms <= 6; says so to the optimiser too */
        return -1;
    const struct pre_atom *at = &alt->a[i];
    size_t k = 0;
    while (k < at->max && pos + k < end && class_match(&at->c, cat[pos + k], unit[pos + k]))
        k++;
    if (k < at->min)
        return -1;
    for (;;) {
        long r = match_seq(alt, i + 1, pos + k, end, cat, unit);
        if (r >= 0)
            return r;
        if (k == at->min)
            return -1;
        k--;
    }
}

/* One regex over every fragment in lens[0..n_in): writes the new fragments to out, returns count. */
static size_t split_one(const struct pre_regex *rx, const uint8_t *cat, const uint32_t *unit,
                        const uint32_t *lens, size_t n_in, uint32_t *out)
{
    size_t n_out = 0, start = 0;
    for (size_t f = 0; f < n_in; f++) {
        size_t end = start + lens[f], gap = start, pos = start;
        while (pos < end) {
            long m = -1;
            for (int a = 0; a < rx->n_alts && m < 0; a++)
                m = match_seq(&rx->alts[a], 0, pos, end, cat, unit);
            if (m <= (long)pos) {
                pos++;
                continue;
            }
            if (pos > gap)
                out[n_out++] = (uint32_t)(pos - gap);
            out[n_out++] = (uint32_t)((size_t)m - pos);
            pos = gap = (size_t)m;
        }
        if (end > gap)
            out[n_out++] = (uint32_t)(end - gap);
        start = end;
    }
    return n_out;
}

size_t tok_pre_split(enum tok_pre pre, const uint32_t *cps, size_t n, uint32_t *lens, uint8_t *cat_scratch,
                     uint32_t *unit_scratch, uint32_t *tmp_lens)
{
    size_t n_frag = 1;
    if (n == 0)
        return 0;
    if ((int)pre < 0 || pre >= PRE_COUNT)
        pre = PRE_DEFAULT;
    lens[0] = (uint32_t)n;
    for (int r = 0; r < 7 && programs[pre][r]; r++) {
        const struct pre_regex *rx = programs[pre][r];
        classify(rx->mode, cps, n, cat_scratch, unit_scratch);
        n_frag = split_one(rx, cat_scratch, unit_scratch, lens, n_frag, tmp_lens);
        memcpy(lens, tmp_lens, n_frag * sizeof *lens);
    }
    return n_frag;
}
