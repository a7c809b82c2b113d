#!/usr/bin/env python3
# bench/ref_bm25.py SET_DIR: the plain BM25 reference of ../shared/eval/README.md, recomputed to six
# decimals (the README prints three, which leaves ties such as xquad_zh's MRR@10 0.972 undecided).
# Written from the README's description: each corpus row is indexed whole as title + text, Latin text
# is lower-case words, CJK text is character unigrams plus bigrams (per run of CJK characters),
# k1 0.9, b 0.4, IDF ln(1 + (N - df + 0.5) / (df + 0.5)), the question tokenized the same way (its
# distinct tokens). Ranking ties go to the earlier row. It reproduces every row of the README's table
# to the three printed decimals. Prints one JSON object: {"set", "recall@1", "recall@5", "recall@20",
# "mrr@10"}. Used by bench/eval_all.sh.
import collections
import json
import math
import os
import re
import sys

K1, B = 0.9, 0.4


def is_cjk(ch):
    o = ord(ch)
    return (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x3040 <= o <= 0x30FF or 0xAC00 <= o <= 0xD7AF
            or 0xF900 <= o <= 0xFAFF)


def tokens(s):
    out = []
    for m in re.finditer(r"[^\W_]+", s.lower()):
        word, run = "", []
        for ch in m.group(0) + " ":
            if ch != " " and is_cjk(ch):
                if word:
                    out.append(word)
                    word = ""
                run.append(ch)
                continue
            if run:
                out += run + [run[i] + run[i + 1] for i in range(len(run) - 1)]
                run = []
            if ch != " ":
                word += ch
        if word:
            out.append(word)
    return out


def main():
    d = sys.argv[1].rstrip("/")
    rows = [json.loads(line) for line in open(os.path.join(d, "corpus.jsonl"), encoding="utf-8")]
    docs = [collections.Counter(tokens(r.get("title", "") + " " + r["text"])) for r in rows]
    lens = [sum(c.values()) for c in docs]
    n_rows, avgdl = len(docs), sum(lens) / max(1, len(docs))
    post = collections.defaultdict(list)
    for i, c in enumerate(docs):
        for t, tf in c.items():
            post[t].append((i, tf))
    qs = [json.loads(line) for line in open(os.path.join(d, "questions.dev.jsonl"), encoding="utf-8")]
    r1 = r5 = r20 = mrr = 0.0
    for q in qs:
        score = collections.defaultdict(float)
        for t in set(tokens(q["question"])):
            df = len(post.get(t, ()))
            if not df:
                continue
            idf = math.log(1 + (n_rows - df + 0.5) / (df + 0.5))
            for i, tf in post[t]:
                score[i] += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * lens[i] / avgdl))
        order = sorted(score, key=lambda i: (-score[i], i))[:20]
        gold = set(q["gold_ids"])
        ranks = [k for k, i in enumerate(order) if rows[i]["id"] in gold]
        if ranks:
            k = ranks[0]
            r1 += k < 1
            r5 += k < 5
            r20 += k < 20
            mrr += 1 / (k + 1) if k < 10 else 0
    n = max(1, len(qs))
    print(json.dumps({"set": os.path.basename(d), "recall@1": round(r1 / n, 6), "recall@5": round(r5 / n, 6),
                      "recall@20": round(r20 / n, 6), "mrr@10": round(mrr / n, 6)}))


if __name__ == "__main__":
    main()
