/* infer/chat.h (internal to infer/): chat prompts for the model families kbox runs, and the split
 * of DeepSeek-R1 / Qwen3 "<think>...</think>" reasoning, or gpt-oss's harmony analysis channel,
 * from the answer.
 *
 * kbox does not run Jinja. chat_format_detect() recognises the family from the GGUF's
 * tokenizer.chat_template text (by the marker strings each family's template contains, as
 * llama.cpp's built-in templates do) and chat_render() writes the prompt in that family's exact
 * layout. An unknown or missing template falls back to ChatML with a warning.
 *
 * The rendered prompt does not contain the BOS token: tokenize it with TOK_ADD_SPECIAL (adds BOS
 * when the vocabulary asks for it) and TOK_PARSE_SPECIAL (turns "<|im_start|>" etc. into their ids).
 * Thread-safe: no shared state. Tests: tests/infer/test_chat.c. */
#ifndef KB_INFER_CHAT_H
#define KB_INFER_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

enum chat_family {
    CHAT_CHATML,    /* <|im_start|>role\n...<|im_end|>\n (Qwen2, Qwen2.5, many others) */
    CHAT_QWEN3,     /* ChatML with <think> reasoning and enable_thinking */
    CHAT_LLAMA3,    /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    CHAT_LLAMA2,    /* [INST] <<SYS>>...<</SYS>> ... [/INST] */
    CHAT_MISTRAL,   /* [INST] ... [/INST] ...</s> */
    CHAT_DEEPSEEK2, /* User: ...\n\nAssistant: ...<｜end▁of▁sentence｜> (DeepSeek V2, V2-Lite) */
    CHAT_DEEPSEEK3, /* <｜User｜>...<｜Assistant｜>... (DeepSeek V3, R1 and the R1 distills) */
    CHAT_HARMONY,   /* <|start|>role<|channel|>c<|message|>...<|end|> (gpt-oss) */
    CHAT_GLM4,      /* [gMASK]<sop><|role|>\n... (GLM-4, GLM-4.5: llama.cpp's chatglm4 layout) */
    CHAT_N_FAMILIES
};

struct chat_format {
    enum chat_family family;
    bool think_prefix;          /* the generation prompt opens "<think>\n" (newer R1 templates) */
    const char *default_system; /* static; used when the messages carry no system turn, or NULL */
};

/* Fills f from the template text (NULL or "" allowed). Unknown -> ChatML and a kb_warn(). */
void chat_format_detect(struct chat_format *f, const char *tmpl);
bool chat_template_is_harmony(const char *tmpl); /* quiet: no warning for other templates */
const char *chat_family_name(enum chat_family family); /* "chatml", "llama3", ...; static */
/* For an explicit override (config or command line): 0, or KB_EINVAL for an unknown name. */
int chat_family_parse(const char *name, enum chat_family *out);

struct chat_msg {
    const char *role;    /* "system", "user" or "assistant"; borrowed */
    const char *content; /* UTF-8, NUL-terminated; borrowed */
};

struct chat_opts {
    bool add_generation_prompt; /* end with the opening of an assistant turn */
    bool enable_thinking;       /* Qwen3: false pre-fills an empty <think></think> block;
                                 * harmony: reasoning effort medium, else low */
};

/* Appends the prompt for msgs[0..n) to out. Reasoning ("...</think>") in earlier assistant turns of
 * the thinking families is dropped, as their templates do. KB_EINVAL for an unknown role, KB_ETOOBIG
 * or KB_ENOMEM from out. */
int chat_render(const struct chat_format *f, const struct chat_msg *msgs, int n, const struct chat_opts *o,
                struct kb_buf *out, struct kb_error *err);

/* ---- reasoning split ------------------------------------------------------------------------------ */

/* Called with consecutive spans of generated text; reasoning tells which side the span is on. */
typedef void (*chat_span_fn)(void *ud, bool reasoning, const char *s, size_t n);

/* A streaming splitter fed decoded pieces in order: text inside the first <think>...</think> block
 * goes out as reasoning, the rest as answer; the tags themselves and the newlines right after them
 * are dropped. A tag split across pieces is recognised. No allocation.
 * Harmony mode (chat_think_init_harmony; the pieces must render special tokens): the text is a
 * series of messages "<|channel|>name<|message|>content<|end|><|start|>assistant...", the first
 * header already opened by the prompt. Content on the final channel is the answer; on any other
 * channel (analysis, commentary) reasoning. Headers, control tokens and anything between <|end|>
 * and the next <|start|> are dropped; a "header" of HDR bytes without <|message|> was no header
 * and goes out as answer text. */
#define CHAT_HDR_MAX 48
struct chat_think {
    int state;    /* 0 answer (no block seen yet), 1 inside the block, 2 answer after it;
                   * harmony: 1 while the current message is reasoning, else 0 */
    bool harmony;
    int h_part;   /* harmony: 0 header, 1 content, 2 between messages */
    char tag[24]; /* harmony: a "<|...|>" being read */
    size_t n_tag;
    char hdr[CHAT_HDR_MAX]; /* harmony: the current header's text */
    size_t n_hdr;
    int matched;  /* bytes of the awaited tag matched so far */
    bool skip_nl; /* drop newlines until the first other byte */
    chat_span_fn fn;
    void *ud;
    char buf[128]; /* pending output of the current side */
    size_t n_buf;
};
/* starts_inside: the prompt already opened the block (think_prefix, Qwen3 thinking on). */
void chat_think_init(struct chat_think *t, bool starts_inside, chat_span_fn fn, void *ud);
void chat_think_init_harmony(struct chat_think *t, chat_span_fn fn, void *ud);
void chat_think_feed(struct chat_think *t, const char *piece, size_t n);
void chat_think_flush(struct chat_think *t); /* end of generation: emits a partial tag as text */

#endif
