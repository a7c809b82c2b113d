/* tests/rag/test_extractive.c: which sentences an extractive answer takes and how it writes them
 * (issue #14 part 4): the Aurora case (a roadmap passage ranked above the price sheet)
 * answers with the price row alone; a table row keeps its header ("Product: Aurora e-bike, Price:
 * 2400 EUR" from "Aurora e-bike | 2400 EUR" under "Product | Price"), and a table's header line is
 * never the answer; sentences come in the order of how much of the question they cover, and one
 * covering none of its terms is never taken; a question's term held by a passage's document context
 * (its title) counts for that passage's sentences, and a bare title line is never the answer, nor a
 * heading line inside the chunk text ("1. Returns", cut by the sentence splitter after "1.", or a
 * line the chunker marked "## 2. Warranty"); "how long" over text that never says "long" answers,
 * with a duration rather than a phone number (多长时间 too); 几天 is a question word as 多少天 is; a
 * question asking for a number of days (几天) prefers the sentence with a number of days. Cases
 * are tables of passages and expectations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "config/config.h"
#include "rag/rag_int.h"

#define MAX_P 3

struct pick_case {
    const char *question;
    struct rag_passage p[MAX_P];
    int n;
    const char *want[3];   /* substrings the answer holds, in this order */
    const char *absent[3]; /* substrings it must not hold */
};

/* a short handbook is one chunk: its sections' headings are lines the chunker marked ("## ") */
#define ACME_ONE_CHUNK                                                                                        \
    {.chunk_id = 13, .document = "acme.txt", .heading_path = "", .context = "Acme Customer Handbook",          \
     .text = "Acme Customer Handbook\nWelcome to Acme.\n## 1. Returns\nItems can be returned within 30 days.\n" \
             "## 2. Warranty\nEvery product has a two-year warranty against defects."}

static const struct pick_case cases[] = {
    /* the case: the roadmap ranks first, the price sheet (a table without column names
     * in its rows) second */
    {"What does the Aurora e-bike cost?",
     {{.chunk_id = 1, .document = "roadmap.md", .heading_path = "Roadmap",
       .text = "The Aurora e-bike launches in Lisbon in September. The Borealis follows in spring."},
      {.chunk_id = 2, .document = "prices.md", .heading_path = "Prices",
       .text = "Product | Price\nAurora e-bike | 2400 EUR\nBorealis e-bike | 3100 EUR"}},
     2,
     {"Product: Aurora e-bike, Price: 2400 EUR [1]"},
     {"Lisbon", "3100", "Product | Price"}},
    /* a question about the column itself: a row with its header, never the bare header line */
    {"What is the price of the Borealis?",
     {{.chunk_id = 2, .document = "prices.md", .heading_path = "Prices",
       .text = "Bike prices for 2026:\nProduct | Price\nAurora e-bike | 2400 EUR\nBorealis e-bike | 3100 EUR"}},
     1,
     {"Product: Borealis e-bike, Price: 3100 EUR"},
     {"Product | Price", "2400"}},
    /* rows that name their columns (CSV, HTML with a header) stand as they are */
    {"How much is shipping to Iceland?",
     {{.chunk_id = 3, .document = "shipping.html", .heading_path = "Shipping > Zones",
       .text = "Zone | Countries | Cost\nZone: Zone 4, Countries: Norway, Switzerland, Iceland, Cost: 19.00 GBP\n"
               "Zone: Zone 5, Countries: Rest of the world, Cost: 32.00 GBP"}},
     1,
     {"Zone: Zone 4, Countries: Norway, Switzerland, Iceland, Cost: 19.00 GBP [1]"},
     {"Zone 5", "Zone | Countries"}},
    /* coverage order: the sentence holding more of the question comes first, although the other
     * scores higher on rank, section name and the number the question asks for */
    {"How much does Aurora delivery to Lisbon cost?",
     {{.chunk_id = 4, .document = "lisbon.md", .heading_path = "Lisbon",
       .text = "Lisbon delivery takes 3 days."},
      {.chunk_id = 5, .document = "notes.md", .heading_path = "Notes", .text = "Our vans are electric."},
      {.chunk_id = 6, .document = "fees.md", .heading_path = "Fees",
       .text = "Aurora owners pay the Lisbon delivery fee at the door."}},
     3,
     {"Aurora owners pay", "Lisbon delivery takes 3 days"},
     {"electric"}},
    /* the document context: a question naming the company takes its handbook's sentence, although
     * the other company's ranks first and only the titles name either */
    {"What is the warranty at Acme?",
     {{.chunk_id = 7, .document = "globex.txt", .heading_path = "2. Warranty", .context = "Globex Customer Handbook",
       .text = "Every product has a three-year warranty against defects."},
      {.chunk_id = 8, .document = "acme.txt", .heading_path = "2. Warranty", .context = "Acme Customer Handbook",
       .text = "Every product has a two-year warranty against defects."}},
     2,
     {"two-year warranty against defects. [1]"},
     {"three-year"}},
    /* a text file's title line is the document's name, not an answer */
    {"Globex warranty",
     {{.chunk_id = 9, .document = "globex.txt", .heading_path = "", .context = "Globex Customer Handbook",
       .text = "Globex Customer Handbook\nEvery product has a three-year warranty against defects."}},
     1,
     {"three-year warranty against defects. [1]"},
     {"Handbook"}},
    /* 几天 asks for a number of days: the sentence with 二十天, not the one with another number (三月) */
    {"明达公司的年假有几天？",
     {{.chunk_id = 10, .document = "mingda.txt", .heading_path = "1. 年假", .context = "明达公司员工手册",
       .text = "年假按自然年计算，未休完的年假最多可以顺延到次年三月底。员工每年有二十天带薪年假。"}},
     1,
     {"员工每年有二十天带薪年假。[1]"},
     {"三月底"}},
    /* a section's heading written as a line of the chunk (a short preamble carried into the first
     * section, ingest/chunk.c) is not an answer, although the sentence splitter cuts it after "1." */
    {"年假",
     {{.chunk_id = 11, .document = "mingda.txt", .heading_path = "1. 年假", .context = "明达公司员工手册",
       .text = "明达公司员工手册\n欢迎加入明达公司。\n1. 年假\n员工每年有二十天带薪年假。"}},
     1,
     {"二十天"},
     {"年假[1]", "欢迎"}},
    {"Returns",
     {{.chunk_id = 12, .document = "acme.txt", .heading_path = "Acme Handbook > 1. Returns",
       .text = "Welcome to Acme.\n1. Returns\nReturns are accepted within 45 days of delivery."}},
     1,
     {"45 days"},
     {"Returns [1]", "Welcome"}},
    /* "how long" wants a duration, not any number: the phone number's passage ranks first */
    {"How long do returns take?",
     {{.chunk_id = 14, .document = "contact.md", .heading_path = "Contact",
       .text = "For returns, call us on 0113 496 0721."},
      {.chunk_id = 15, .document = "policy.md", .heading_path = "Policy",
       .text = "Returns are refunded within 7 working days."}},
     2,
     {"7 working days"},
     {"0721"}},
    {"退货要多长时间？",
     {{.chunk_id = 16, .document = "contact.md", .heading_path = "联系我们",
       .text = "有关退货的问题，请致电 0113 496 0721。"},
      {.chunk_id = 17, .document = "policy.md", .heading_path = "政策",
       .text = "退货款在 7 个工作日内退回。"}},
     2,
     {"7 个工作日"},
     {"0721"}},
    /* 几天 asks a number of days, like 多少天: "这几天" in another sentence covers nothing */
    {"年假有几天？",
     {{.chunk_id = 18, .document = "handbook.txt", .heading_path = "4. 年假",
       .text = "春节期间公司闭门休息，在这几天上班的同事可以日后补休。全职员工每年有 27 天年假。"}},
     1,
     {"27 天年假"},
     {"补休"}},
    {"What is the warranty at Acme?",
     {ACME_ONE_CHUNK},
     1,
     {"two-year warranty"},
     {"Warranty [1]", "Welcome"}},
    /* "long" of "how long" is a question word: a knowledge base that never says "long" still answers */
    {"How long is the Acme warranty?",
     {ACME_ONE_CHUNK},
     1,
     {"two-year warranty"},
     {"30 days"}},
};

static void test_picks(void **state)
{
    (void)state;
    struct config cfg;
    config_init(&cfg);
    cfg.answer_min_confidence = 0.05; /* no embedder here: these cases are about which sentences */
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        struct rag_answer a;
        struct kb_error err = {0};
        const char *at;
        assert_int_equal(rag_answer_extractive(&cfg, cases[i].question, cases[i].p, cases[i].n, NULL, NULL, &a, &err),
                         0);
        print_message("  %s -> %s\n", cases[i].question, a.answer);
        assert_false(a.fallback);
        at = a.answer;
        for (int k = 0; k < 3 && cases[i].want[k]; k++) {
            const char *f = strstr(at, cases[i].want[k]);
            if (!f)
                fail_msg("case %zu: '%s' not (in order) in '%s'", i, cases[i].want[k], a.answer);
            at = f + strlen(cases[i].want[k]);
        }
        for (int k = 0; k < 3 && cases[i].absent[k]; k++)
            if (strstr(a.answer, cases[i].absent[k]))
                fail_msg("case %zu: '%s' in '%s'", i, cases[i].absent[k], a.answer);
        rag_answer_release(&a);
    }
    config_release(&cfg);
}

/* "long" of "how long" is a question word, not a topic the passages lack: with the default
 * answer.min_confidence the question is answered, with the same sentence as without "how long". */
static void test_how_long(void **state)
{
    (void)state;
    struct config cfg;
    config_init(&cfg);
    const struct rag_passage p[1] = {ACME_ONE_CHUNK};
    struct rag_answer a, b;
    struct kb_error err = {0};
    assert_int_equal(rag_answer_extractive(&cfg, "How long is the Acme warranty?", p, 1, NULL, NULL, &a, &err), 0);
    assert_int_equal(rag_answer_extractive(&cfg, "What is the Acme warranty?", p, 1, NULL, NULL, &b, &err), 0);
    print_message("  %.3f %s / %.3f %s\n", a.confidence, a.answer, b.confidence, b.answer);
    assert_false(a.fallback);
    assert_string_equal(a.answer, b.answer);
    rag_answer_release(&a);
    rag_answer_release(&b);
    config_release(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_picks),
        cmocka_unit_test(test_how_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
