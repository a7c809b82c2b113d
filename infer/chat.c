/* infer/chat.c: chat-template detection, prompt rendering per family, and the streaming
 * <think>...</think> and harmony-channel splitters (see chat.h).
 *
 * Detection looks for each family's marker strings in the template, most specific first (Qwen3's
 * enable_thinking before plain ChatML, Llama 2's <<SYS>> before Mistral's [INST]). Rendering
 * writes each family's layout literally; the expected strings in tests/infer/test_chat.c are the
 * specification. Invariants: output only grows through kb_buf (its cap applies); the splitter keeps
 * at most a tag's worth of state and a 128-byte span buffer. Tests: tests/infer/test_chat.c. */
#include "infer/chat.h"

#include <string.h>

#define U8_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define U8_ASSISTANT                                                                                         \
    "<\xef\xbd\x9c"                                                                                          \
    "Assistant\xef\xbd\x9c>"
#define U8_EOS                                                                                               \
    "<\xef\xbd\x9c"                                                                                          \
    "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define QWEN25_SYSTEM "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

static const char *const family_names[CHAT_N_FAMILIES] = {
    [CHAT_CHATML] = "chatml",       [CHAT_QWEN3] = "qwen3",     [CHAT_LLAMA3] = "llama3",
    [CHAT_LLAMA2] = "llama2",       [CHAT_MISTRAL] = "mistral", [CHAT_DEEPSEEK2] = "deepseek2",
    [CHAT_DEEPSEEK3] = "deepseek3", [CHAT_HARMONY] = "harmony", [CHAT_GLM4] = "glm4",
};

const char *chat_family_name(enum chat_family family)
{
    return (int)family >= 0 && family < CHAT_N_FAMILIES ? family_names[family] : "unknown";
}

int chat_family_parse(const char *name, enum chat_family *out)
{
    for (int i = 0; i < CHAT_N_FAMILIES; i++) {
        if (name && strcmp(name, family_names[i]) == 0) {
            *out = (enum chat_family)i;
            return 0;
        }
    }
    return KB_EINVAL;
}

static bool has(const char *t, const char *s)
{
    return strstr(t, s) != NULL;
}

bool chat_template_is_harmony(const char *tmpl)
{
    return tmpl && has(tmpl, "<|start|>") && has(tmpl, "<|message|>");
}

void chat_format_detect(struct chat_format *f, const char *tmpl)
{
    memset(f, 0, sizeof *f);
    f->family = CHAT_CHATML;
    if (!tmpl || !tmpl[0]) {
        kb_warn("chat: the model has no chat template; using ChatML");
        return;
    }
    if (chat_template_is_harmony(tmpl)) {
        f->family = CHAT_HARMONY;
    } else if (has(tmpl, "[gMASK]<sop>")) {
        f->family = CHAT_GLM4;
    } else if (has(tmpl, "<|im_start|>")) {
        if (has(tmpl, "enable_thinking") || has(tmpl, "<think>"))
            f->family = CHAT_QWEN3;
        if (has(tmpl, QWEN25_SYSTEM))
            f->default_system = QWEN25_SYSTEM;
    } else if (has(tmpl, "<|start_header_id|>") && has(tmpl, "<|end_header_id|>")) {
        f->family = CHAT_LLAMA3;
    } else if (has(tmpl, U8_USER) && has(tmpl, U8_ASSISTANT)) {
        f->family = CHAT_DEEPSEEK3;
        f->think_prefix = has(tmpl, U8_ASSISTANT "<think>\\n") || has(tmpl, U8_ASSISTANT "<think>\n");
    } else if (has(tmpl, "'Assistant: ' + message['content'] + eos_token") ||
               (has(tmpl, "User: ") && has(tmpl, "Assistant:"))) {
        f->family = CHAT_DEEPSEEK2;
    } else if (has(tmpl, "[INST]")) {
        f->family = has(tmpl, "<<SYS>>") ? CHAT_LLAMA2 : CHAT_MISTRAL;
    } else {
        kb_warn("chat: unrecognised chat template; using ChatML");
    }
}

/* Content of an earlier assistant turn without its reasoning: what follows the last "</think>". */
static const char *strip_think(const char *s)
{
    const char *p = s, *q;
    while ((q = strstr(p, "</think>")) != NULL)
        p = q + 8;
    if (p != s)
        while (*p == '\n')
            p++;
    return p;
}

static int put_trimmed(struct kb_buf *b, const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    return kb_buf_append(b, s, n);
}

enum role { R_SYSTEM, R_USER, R_ASSISTANT };

static int render_one(const struct chat_format *f, enum role r, const char *role, const char *c,
                      bool first_user, const char *sys, struct kb_buf *b)
{
    int rc = 0;
    bool thinking = f->family == CHAT_QWEN3 || f->family == CHAT_DEEPSEEK3 || f->family == CHAT_HARMONY ||
                    f->family == CHAT_GLM4;
    if (r == R_ASSISTANT && thinking)
        c = strip_think(c);
    switch (f->family) {
    case CHAT_CHATML:
    case CHAT_QWEN3:
        rc = kb_buf_printf(b, "<|im_start|>%s\n%s<|im_end|>\n", role, c);
        break;
    case CHAT_LLAMA3:
        rc = kb_buf_printf(b, "<|start_header_id|>%s<|end_header_id|>\n\n", role);
        if (rc == 0)
            rc = put_trimmed(b, c);
        if (rc == 0)
            rc = kb_buf_puts(b, "<|eot_id|>");
        break;
    case CHAT_LLAMA2:
        if (r == R_USER && first_user && sys)
            rc = kb_buf_printf(b, "[INST] <<SYS>>\n%s\n<</SYS>>\n\n%s [/INST]", sys, c);
        else if (r == R_USER)
            rc = kb_buf_printf(b, "%s[INST] %s [/INST]", first_user ? "" : "<s>", c);
        else
            rc = kb_buf_printf(b, " %s </s>", c);
        break;
    case CHAT_MISTRAL:
        if (r == R_USER && first_user && sys)
            rc = kb_buf_printf(b, "[INST] %s\n\n%s [/INST]", sys, c);
        else if (r == R_USER)
            rc = kb_buf_printf(b, "[INST] %s [/INST]", c);
        else
            rc = kb_buf_printf(b, " %s</s>", c);
        break;
    case CHAT_DEEPSEEK2:
        if (r == R_SYSTEM)
            rc = kb_buf_printf(b, "%s\n\n", c);
        else if (r == R_USER)
            rc = kb_buf_printf(b, "User: %s\n\n", c);
        else
            rc = kb_buf_printf(b, "Assistant: %s" U8_EOS, c);
        break;
    case CHAT_DEEPSEEK3:
        if (r == R_SYSTEM)
            rc = kb_buf_printf(b, "%s\n\n", c);
        else if (r == R_USER)
            rc = kb_buf_printf(b, U8_USER "%s", c);
        else
            rc = kb_buf_printf(b, U8_ASSISTANT "%s" U8_EOS, c);
        break;
    case CHAT_HARMONY: /* the system turn is the developer's instructions */
        if (r == R_SYSTEM)
            rc = kb_buf_printf(b, "<|start|>developer<|message|># Instructions\n\n%s<|end|>", c);
        else if (r == R_USER)
            rc = kb_buf_printf(b, "<|start|>user<|message|>%s<|end|>", c);
        else
            rc = kb_buf_printf(b, "<|start|>assistant<|channel|>final<|message|>%s<|end|>", c);
        break;
    case CHAT_GLM4:
        rc = kb_buf_printf(b, "<|%s|>\n%s", role, c);
        break;
    default:
        rc = KB_EINVAL;
        break;
    }
    return rc;
}

/* Harmony's own system message: identity, reasoning effort and the channels the model may use. */
static int harmony_system(const struct chat_opts *o, struct kb_buf *b)
{
    return kb_buf_printf(b, "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
                         "Knowledge cutoff: 2024-06\n\nReasoning: %s\n\n# Valid channels: analysis, commentary, "
                         "final. Channel must be included for every message.<|end|>",
                         o->enable_thinking ? "medium" : "low");
}

int chat_render(const struct chat_format *f, const struct chat_msg *msgs, int n, const struct chat_opts *o,
                struct kb_buf *out, struct kb_error *err)
{
    static const struct chat_opts defaults = {true, true};
    const char *sys = NULL;
    bool first_user = true, inline_system = f->family == CHAT_LLAMA2 || f->family == CHAT_MISTRAL;
    int rc = 0;
    if (!o)
        o = &defaults;
    for (int i = 0; i < n; i++) {
        if (!msgs[i].role || !msgs[i].content)
            return kb_error_set(err, KB_EINVAL, "chat: message %d has no role or content", i);
        if (strcmp(msgs[i].role, "system") == 0 && !sys)
            sys = msgs[i].content;
    }
    if (f->family == CHAT_HARMONY)
        rc = harmony_system(o, out);
    else if (f->family == CHAT_GLM4)
        rc = kb_buf_puts(out, "[gMASK]<sop>");
    if (rc == 0 && !sys && f->default_system) { /* the template's own default system turn */
        struct chat_msg m = {"system", f->default_system};
        rc = render_one(f, R_SYSTEM, m.role, m.content, true, NULL, out);
    }
    for (int i = 0; i < n && rc == 0; i++) {
        enum role r;
        const char *role = msgs[i].role;
        if (strcmp(role, "system") == 0)
            r = R_SYSTEM;
        else if (strcmp(role, "user") == 0)
            r = R_USER;
        else if (strcmp(role, "assistant") == 0)
            r = R_ASSISTANT;
        else
            return kb_error_set(err, KB_EINVAL, "chat: unknown role '%s'", role);
        if (r == R_SYSTEM && inline_system)
            continue; /* goes into the first user turn */
        rc = render_one(f, r, role, msgs[i].content, first_user, inline_system ? sys : NULL, out);
        if (r == R_USER)
            first_user = false;
    }
    if (rc == 0 && o->add_generation_prompt) {
        switch (f->family) {
        case CHAT_CHATML:
            rc = kb_buf_puts(out, "<|im_start|>assistant\n");
            break;
        case CHAT_QWEN3:
            rc = kb_buf_puts(out, o->enable_thinking ? "<|im_start|>assistant\n"
                                                     : "<|im_start|>assistant\n<think>\n\n</think>\n\n");
            break;
        case CHAT_LLAMA3:
            rc = kb_buf_puts(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
            break;
        case CHAT_DEEPSEEK2:
            rc = kb_buf_puts(out, "Assistant:");
            break;
        case CHAT_DEEPSEEK3:
            rc = kb_buf_puts(out, f->think_prefix ? U8_ASSISTANT "<think>\n" : U8_ASSISTANT);
            break;
        case CHAT_HARMONY: /* the model names its channel */
            rc = kb_buf_puts(out, "<|start|>assistant");
            break;
        case CHAT_GLM4: /* the model opens its own <think> block */
            rc = kb_buf_puts(out, "<|assistant|>\n");
            break;
        default: /* [INST] families: the prompt already ends with [/INST] */
            break;
        }
    }
    if (rc != 0)
        return kb_error_set(err, rc, "chat: cannot render the prompt (%s)", kb_strerror(rc));
    return 0;
}

/* ---- <think> splitter ------------------------------------------------------------------------------ */

static const char tag_open[] = "<think>", tag_close[] = "</think>";

void chat_think_init(struct chat_think *t, bool starts_inside, chat_span_fn fn, void *ud)
{
    memset(t, 0, sizeof *t);
    t->state = starts_inside ? 1 : 0;
    t->skip_nl = starts_inside;
    t->fn = fn;
    t->ud = ud;
}

static void span_flush(struct chat_think *t)
{
    if (t->n_buf > 0)
        t->fn(t->ud, t->state == 1, t->buf, t->n_buf);
    t->n_buf = 0;
}

static void span_put(struct chat_think *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t->skip_nl && s[i] == '\n')
            continue;
        t->skip_nl = false;
        if (t->n_buf == sizeof t->buf)
            span_flush(t);
        t->buf[t->n_buf++] = s[i];
    }
}

/* ---- harmony splitter ---------------------------------------------------------------------------- */

void chat_think_init_harmony(struct chat_think *t, chat_span_fn fn, void *ud)
{
    memset(t, 0, sizeof *t);
    t->harmony = true;
    t->fn = fn;
    t->ud = ud;
}

/* Text (not a control token) in the current part of a message. */
static void h_text(struct chat_think *t, const char *s, size_t n)
{
    if (t->h_part == 1) {
        span_put(t, s, n);
        return;
    }
    if (t->h_part == 2)
        return;
    if (t->n_hdr + n <= sizeof t->hdr) {
        memcpy(t->hdr + t->n_hdr, s, n);
        t->n_hdr += n;
        return;
    }
    /* no header after all: what was read is answer text */
    t->h_part = 1;
    t->state = 0;
    span_put(t, t->hdr, t->n_hdr);
    span_put(t, s, n);
    t->n_hdr = 0;
}

static bool h_hdr_has(const struct chat_think *t, const char *w)
{
    size_t k = strlen(w);
    for (size_t i = 0; i + k <= t->n_hdr; i++)
        if (memcmp(t->hdr + i, w, k) == 0)
            return true;
    return false;
}

/* A complete "<|...|>" control token. */
static void h_tag(struct chat_think *t)
{
    const char *g = t->tag;
    size_t n = t->n_tag;
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(g, lit, n) == 0)
    if (IS("<|start|>") || IS("<|end|>")) {
        span_flush(t);
        t->h_part = IS("<|start|>") ? 0 : 2;
        t->n_hdr = 0;
    } else if (IS("<|channel|>")) {
        if (t->h_part == 0)
            h_text(t, " ", 1);
    } else if (IS("<|message|>")) {
        if (t->h_part == 0) {
            span_flush(t);
            t->state = h_hdr_has(t, "final") ? 0 : 1;
            t->h_part = 1;
            t->n_hdr = 0;
        }
    } else if (!IS("<|constrain|>") && !IS("<|return|>") && !IS("<|call|>")) {
        h_text(t, g, n); /* not harmony's: text */
    }
#undef IS
}

static void h_feed(struct chat_think *t, char c)
{
    if (t->n_tag == 1 && c != '|') { /* a lone '<' */
        h_text(t, "<", 1);
        t->n_tag = 0;
    }
    if (t->n_tag > 0) {
        t->tag[t->n_tag++] = c;
        if (t->n_tag >= 4 && t->tag[t->n_tag - 2] == '|' && c == '>') {
            h_tag(t);
            t->n_tag = 0;
        } else if (t->n_tag == sizeof t->tag) {
            h_text(t, t->tag, t->n_tag);
            t->n_tag = 0;
        }
        return;
    }
    if (c == '<') {
        t->tag[0] = c;
        t->n_tag = 1;
        return;
    }
    h_text(t, &c, 1);
}

void chat_think_feed(struct chat_think *t, const char *piece, size_t n)
{
    if (t->harmony) {
        for (size_t i = 0; i < n; i++)
            h_feed(t, piece[i]);
        span_flush(t);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *tag = t->state == 0 ? tag_open : t->state == 1 ? tag_close : NULL;
        char c = piece[i];
        if (!tag) {
            span_put(t, &c, 1);
            continue;
        }
        size_t len = strlen(tag);
        if (c == tag[t->matched]) {
            if (++t->matched < (int)len)
                continue;
            t->matched = 0;
            span_flush(t);
            t->state++;
            t->skip_nl = true;
            continue;
        }
        if (t->matched > 0) { /* a false start: the matched bytes were text */
            span_put(t, tag, (size_t)t->matched);
            t->matched = 0;
        }
        if (c == tag[0])
            t->matched = 1;
        else
            span_put(t, &c, 1);
    }
    span_flush(t);
}

void chat_think_flush(struct chat_think *t)
{
    if (t->harmony) { /* a partial tag is text; an unfinished header with text was no header */
        if (t->n_tag > 0)
            h_text(t, t->tag, t->n_tag);
        t->n_tag = 0;
        if (t->h_part == 0 && t->n_hdr > 0) {
            t->state = 0;
            span_put(t, t->hdr, t->n_hdr);
            t->n_hdr = 0;
        }
        span_flush(t);
        return;
    }
    const char *tag = t->state == 0 ? tag_open : tag_close;
    if (t->matched > 0 && t->state < 2)
        span_put(t, tag, (size_t)t->matched);
    t->matched = 0;
    span_flush(t);
}
