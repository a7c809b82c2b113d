/* tests/infer/test_chat.c: template detection from real templates' marker strings, the exact prompt
 * each family renders (harmony included), the streaming <think> splitter and gpt-oss's harmony
 * channel splitter with tags cut at every byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "infer/chat.h"
#include "infer/gguf.h"
#include "infer/tok.h"
#include <sys/stat.h>

#define U8_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define U8_ASSISTANT                                                                                         \
    "<\xef\xbd\x9c"                                                                                          \
    "Assistant\xef\xbd\x9c>"
#define U8_EOS                                                                                               \
    "<\xef\xbd\x9c"                                                                                          \
    "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

static void test_detect(void **state)
{
    (void)state;
    static const struct {
        const char *tmpl;
        enum chat_family want;
        bool think_prefix, qwen_default;
    } cases[] = {
        {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
         "'<|im_end|>' + '\\n'}}{% endfor %}",
         CHAT_CHATML, false, false},
        {"{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}{%- else %}{{- 'You are "
         "Qwen, "
         "created by Alibaba Cloud. You are a helpful assistant.' }}{%- endif %}<|im_start|>",
         CHAT_CHATML, false, true},
        {"{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' "
         "}}"
         "{%- endif %}<|im_start|>assistant",
         CHAT_QWEN3, false, false},
        {"{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim "
         "+ "
         "'<|eot_id|>' }}",
         CHAT_LLAMA3, false, false},
        {"{% if message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\\n\\n' }}{% elif "
         "message['role'] "
         "== 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}",
         CHAT_DEEPSEEK2, false, false},
        {"{{'" U8_USER "' + message['content']}}{{'" U8_ASSISTANT "' + content + '" U8_EOS "'}}"
         "{% if add_generation_prompt %}{{'" U8_ASSISTANT "'}}{% endif %}",
         CHAT_DEEPSEEK3, false, false},
        {"{{'" U8_USER "' + message['content']}}{% if add_generation_prompt %}{{'" U8_ASSISTANT
         "<think>\\n'}}{% endif %}",
         CHAT_DEEPSEEK3, true, false},
        {"{{ bos_token }}{% for message in messages %}{{ '[INST] ' + message['content'] + ' [/INST]' }}",
         CHAT_MISTRAL, false, false},
        {"{% set system_message = '<<SYS>>\\n' + messages[0]['content'] %}{{ '[INST] ' }}", CHAT_LLAMA2,
         false, false},
        {"{% for message in messages %}<|user|>{{ message['content'] }}<|end|>{% endfor %}", CHAT_CHATML,
         false, false},
        {"{%- for message in messages %}{{- '<|start|>' + message['role'] + '<|message|>' + message['content'] + "
         "'<|end|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start|>assistant' }}{%- endif %}",
         CHAT_HARMONY, false, false},
        {"[gMASK]<sop>{%- for m in messages %}{%- if m.role == 'user' %}<|user|>\n{{ m.content }}{%- endif %}"
         "{%- endfor %}{%- if add_generation_prompt %}<|assistant|>{%- endif %}",
         CHAT_GLM4, false, false},
        {"", CHAT_CHATML, false, false},
        {NULL, CHAT_CHATML, false, false},
    };
    kb_log_set_level(KB_LOG_ERROR); /* the unknown ones warn */
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        struct chat_format f;
        chat_format_detect(&f, cases[i].tmpl);
        if (f.family != cases[i].want || f.think_prefix != cases[i].think_prefix ||
            (f.default_system != NULL) != cases[i].qwen_default)
            fail_msg("case %zu: family %s", i, chat_family_name(f.family));
    }
    kb_log_set_level(KB_LOG_INFO);
    enum chat_family fam;
    assert_int_equal(chat_family_parse("llama3", &fam), 0);
    assert_int_equal(fam, CHAT_LLAMA3);
    assert_int_equal(chat_family_parse("jinja", &fam), KB_EINVAL);
}

static void test_render(void **state)
{
    (void)state;
    static const struct chat_msg conv[] = {
        {"system", "Be brief."},
        {"user", "Hi"},
        {"assistant", "<think>\nsay hello\n</think>\n\nHello."},
        {"user", " Why? "},
    };
    static const struct {
        enum chat_family fam;
        bool think_prefix, thinking;
        const char *want;
    } cases[] = {
        {CHAT_CHATML, false, true,
         "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
         "<think>\nsay hello\n</think>\n\nHello.<|im_end|>\n<|im_start|>user\n Why? <|im_end|>\n"
         "<|im_start|>assistant\n"},
        {CHAT_QWEN3, false, true,
         "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
         "Hello.<|im_end|>\n<|im_start|>user\n Why? <|im_end|>\n<|im_start|>assistant\n"},
        {CHAT_QWEN3, false, false,
         "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
         "Hello.<|im_end|>\n<|im_start|>user\n Why? "
         "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"},
        {CHAT_LLAMA3, false, true,
         "<|start_header_id|>system<|end_header_id|>\n\nBe "
         "brief.<|eot_id|><|start_header_id|>user<|end_header_id|>"
         "\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n<think>\nsay "
         "hello\n</think>\n\nHello."
         "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|><|start_header_id|>assistant"
         "<|end_header_id|>\n\n"},
        {CHAT_LLAMA2, false, true,
         "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] <think>\nsay hello\n</think>\n\nHello. </s>"
         "<s>[INST]  Why?  [/INST]"},
        {CHAT_MISTRAL, false, true,
         "[INST] Be brief.\n\nHi [/INST] <think>\nsay hello\n</think>\n\nHello.</s>[INST]  Why?  [/INST]"},
        {CHAT_DEEPSEEK2, false, true,
         "Be brief.\n\nUser: Hi\n\nAssistant: <think>\nsay hello\n</think>\n\nHello." U8_EOS
         "User:  Why? \n\nAssistant:"},
        {CHAT_DEEPSEEK3, false, true,
         "Be brief.\n\n" U8_USER "Hi" U8_ASSISTANT "Hello." U8_EOS U8_USER " Why? " U8_ASSISTANT},
        {CHAT_DEEPSEEK3, true, true,
         "Be brief.\n\n" U8_USER "Hi" U8_ASSISTANT "Hello." U8_EOS U8_USER " Why? " U8_ASSISTANT "<think>\n"},
        {CHAT_HARMONY, false, true,
         "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: "
         "2024-06\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. Channel must be included "
         "for every message.<|end|><|start|>developer<|message|># Instructions\n\nBe brief.<|end|>"
         "<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>Hello.<|end|>"
         "<|start|>user<|message|> Why? <|end|><|start|>assistant"},
        {CHAT_HARMONY, false, false,
         "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: "
         "2024-06\n\nReasoning: low\n\n# Valid channels: analysis, commentary, final. Channel must be included "
         "for every message.<|end|><|start|>developer<|message|># Instructions\n\nBe brief.<|end|>"
         "<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>Hello.<|end|>"
         "<|start|>user<|message|> Why? <|end|><|start|>assistant"},
        {CHAT_GLM4, false, true,
         "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\nHello.<|user|>\n Why? <|assistant|>\n"},
    };
    struct kb_buf b;
    struct kb_error err = {0};
    kb_buf_init(&b, 0);
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        struct chat_format f = {cases[i].fam, cases[i].think_prefix, NULL};
        struct chat_opts o = {true, cases[i].thinking};
        kb_buf_reset(&b);
        assert_int_equal(chat_render(&f, conv, 4, &o, &b, &err), 0);
        if (strcmp(b.data, cases[i].want) != 0)
            fail_msg("case %zu (%s):\n got: %s\nwant: %s", i, chat_family_name(cases[i].fam), b.data,
                     cases[i].want);
    }
    /* no generation prompt; Qwen2.5's default system turn */
    struct chat_format f = {CHAT_CHATML, false, "You are Qwen."};
    struct chat_opts o = {false, true};
    kb_buf_reset(&b);
    assert_int_equal(chat_render(&f, conv + 1, 1, &o, &b, &err), 0);
    assert_string_equal(b.data,
                        "<|im_start|>system\nYou are Qwen.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
    /* a user-only Llama 2 / Mistral prompt has no system block */
    f = (struct chat_format){CHAT_LLAMA2, false, NULL};
    kb_buf_reset(&b);
    assert_int_equal(chat_render(&f, conv + 1, 1, NULL, &b, &err), 0);
    assert_string_equal(b.data, "[INST] Hi [/INST]");
    /* bad roles */
    struct chat_msg bad[] = {{"tool", "x"}};
    assert_int_equal(chat_render(&f, bad, 1, NULL, &b, &err), KB_EINVAL);
    assert_non_null(strstr(err.msg, "tool"));
    /* the buffer's cap is honoured */
    struct kb_buf small;
    kb_buf_init(&small, 16);
    assert_int_equal(chat_render(&f, conv, 4, NULL, &small, &err), KB_ETOOBIG);
    kb_buf_release(&small);
    kb_buf_release(&b);
}

struct spans {
    char reasoning[256], answer[256];
    size_t nr, na;
    int calls;
};

static void on_span(void *ud, bool reasoning, const char *s, size_t n)
{
    struct spans *sp = ud;
    char *dst = reasoning ? sp->reasoning : sp->answer;
    size_t *len = reasoning ? &sp->nr : &sp->na;
    assert_true(*len + n < sizeof sp->answer);
    memcpy(dst + *len, s, n);
    *len += n;
    dst[*len] = 0;
    sp->calls++;
}

static void test_think(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool starts_inside;
        const char *reasoning, *answer;
    } cases[] = {
        {"<think>\nLet me see.\n</think>\n\nThe answer is 4.", false, "Let me see.\n", "The answer is 4."},
        {"Okay, 2+2.\n</think>\n\n4", true, "Okay, 2+2.\n", "4"},
        {"Plain answer, no tags.", false, "", "Plain answer, no tags."},
        {"a <thin> b </think", false, "", "a <thin> b </think"}, /* false starts stay text */
        {"<think>x<</think>y <think>z</think>", false, "x<", "y <think>z</think>"}, /* one block only */
        {"<think>unfinished <", false, "unfinished <", ""},
        {"", true, "", ""},
    };
    for (size_t c = 0; c < KB_ARRAY_LEN(cases); c++) {
        size_t n = strlen(cases[c].text);
        /* whole, and cut into pieces of every size */
        for (size_t step = 1; step <= n + 1; step++) {
            struct spans sp = {0};
            struct chat_think t;
            chat_think_init(&t, cases[c].starts_inside, on_span, &sp);
            for (size_t i = 0; i < n; i += step)
                chat_think_feed(&t, cases[c].text + i, KB_MIN(step, n - i));
            chat_think_flush(&t);
            if (strcmp(sp.reasoning, cases[c].reasoning) != 0 || strcmp(sp.answer, cases[c].answer) != 0)
                fail_msg("case %zu step %zu: reasoning '%s' answer '%s'", c, step, sp.reasoning, sp.answer);
        }
    }
}

/* gpt-oss's harmony output: the analysis (and commentary) channel is reasoning, the final channel
 * the answer; control tokens and headers never reach either side; pieces cut at every byte. */
static void test_harmony_split(void **state)
{
    (void)state;
    static const struct {
        const char *text, *reasoning, *answer;
    } cases[] = {
        {"<|channel|>analysis<|message|>User says hi. Reply briefly.<|end|><|start|>assistant<|channel|>final"
         "<|message|>Hello!",
         "User says hi. Reply briefly.", "Hello!"},
        {"<|channel|>final<|message|>Straight to it.", "", "Straight to it."},
        {"<|channel|>analysis<|message|>a < b and c<|d|> e<|end|>", "a < b and c<|d|> e", ""},
        {"<|channel|>commentary<|message|>calling<|end|><|start|>assistant<|channel|>final <|constrain|>text"
         "<|message|>x<y",
         "calling", "x<y"},
        {"no header at all", "", "no header at all"},
        {"an unheaded answer that runs longer than any harmony header could be, so it is text", "",
         "an unheaded answer that runs longer than any harmony header could be, so it is text"},
        {"<|channel|>analysis<|message|>unfinished <|", "unfinished <|", ""},
        {"", "", ""},
    };
    for (size_t c = 0; c < KB_ARRAY_LEN(cases); c++) {
        size_t n = strlen(cases[c].text);
        for (size_t step = 1; step <= n + 1; step++) {
            struct spans sp = {0};
            struct chat_think t;
            chat_think_init_harmony(&t, on_span, &sp);
            for (size_t i = 0; i < n; i += step)
                chat_think_feed(&t, cases[c].text + i, KB_MIN(step, n - i));
            chat_think_flush(&t);
            if (strcmp(sp.reasoning, cases[c].reasoning) != 0 || strcmp(sp.answer, cases[c].answer) != 0)
                fail_msg("case %zu step %zu: reasoning '%s' answer '%s'", c, step, sp.reasoning, sp.answer);
        }
    }
    assert_true(chat_template_is_harmony("<|start|>user<|message|>"));
    assert_false(chat_template_is_harmony("<|im_start|>user<|im_end|>"));
}

/* A rendered ChatML prompt tokenizes with its control tokens as single ids and decodes back. */
static void test_render_tokenize(void **state)
{
    (void)state;
    struct stat st;
    const char *path = KBOX_SHARED_DIR "/conformance/qwen2_f32.gguf";
    if (stat(path, &st) != 0)
        skip();
    struct gguf_file *gf = NULL;
    struct tok_vocab *v = NULL;
    struct kb_error err = {0};
    assert_int_equal(gguf_open(&gf, path, &err), 0);
    assert_int_equal(tok_vocab_new(&v, gf, &err), 0);
    gguf_close(gf);
    struct chat_format f = {CHAT_CHATML, false, NULL};
    struct chat_msg m[] = {{"system", "Be brief."}, {"user", "What is a token?"}};
    struct kb_buf b, back;
    kb_buf_init(&b, 0);
    kb_buf_init(&back, 0);
    assert_int_equal(chat_render(&f, m, 2, NULL, &b, &err), 0);
    int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(tok_encode_alloc(v, b.data, b.len, TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, &ids, &n, &err),
                     0);
    int32_t im_start = tok_find(v, "<|im_start|>", 12), im_end = tok_find(v, "<|im_end|>", 10);
    int n_start = 0, n_end = 0;
    for (size_t i = 0; i < n; i++) {
        n_start += ids[i] == im_start;
        n_end += ids[i] == im_end;
    }
    assert_int_equal(ids[0], im_start); /* qwen2 adds no BOS */
    assert_int_equal(n_start, 3);
    assert_int_equal(n_end, 2);
    assert_int_equal(tok_decode(v, ids, n, TOK_RENDER_SPECIAL, &back), 0);
    assert_string_equal(back.data, b.data);
    free(ids);
    kb_buf_release(&b);
    kb_buf_release(&back);
    tok_vocab_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_think),
        cmocka_unit_test(test_harmony_split),
        cmocka_unit_test(test_render_tokenize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
