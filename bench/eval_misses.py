#!/usr/bin/env python3
# bench/eval_misses.py SET_DIR DUMP [bm25|vector] [K]: the questions of an eval set whose gold
# document is not among the first K documents (default 5) of one retrieval leg, read from a
# bench_index_eval dump (lines "Q<TAB>qi<TAB>gold ..." then "H<TAB>external_id<TAB>bm25<TAB>bm25_rank
# <TAB>vector<TAB>vector_rank"). Documents are ranked by the leg's chunk ranks, keeping each
# document's first chunk, as ../shared/eval/README.md scores retrieval. Per miss it prints the gold
# document's rank (None: not among the dumped candidates), the question, the gold document's title,
# the leg's first document's title, and how many of the leg's first 10 documents share the gold id's
# prefix before '#' (financebench_en's filing: "ADOBE_2022_10K#p53" -> "ADOBE_2022_10K"). Used to
# find out why a dev set stays short (docs/BENCHMARKS.md, issue #14). Example:
#   build/bench/bench_index_eval /work/shared/eval/covid_faq_en /tmp/cf.dump
#   bench/eval_misses.py /work/shared/eval/covid_faq_en /tmp/cf.dump bm25 5
import json
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: eval_misses.py SET_DIR DUMP [bm25|vector] [K]")
    set_dir, dump = sys.argv[1], sys.argv[2]
    leg = sys.argv[3] if len(sys.argv) > 3 else "bm25"
    k = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    if leg not in ("bm25", "vector"):
        sys.exit(f"eval_misses.py: leg must be bm25 or vector, not {leg!r}")
    col = 2 if leg == "bm25" else 4  # rank column of an H line, after the id
    questions = [json.loads(line) for line in open(f"{set_dir}/questions.dev.jsonl", encoding="utf-8")]
    titles = {}
    for line in open(f"{set_dir}/corpus.jsonl", encoding="utf-8"):
        row = json.loads(line)
        titles[row["id"]] = row.get("title", "")
    runs = []
    for line in open(dump, encoding="utf-8"):
        p = line.rstrip("\n").split("\t")
        if p[0] == "Q":
            runs.append((int(p[1]), p[2].split(), []))
        elif p[0] == "H" and runs:
            runs[-1][2].append(p[1:])
    missed = 0
    for qi, gold, hits in runs:
        ranked = sorted((h for h in hits if int(h[col]) > 0), key=lambda h: int(h[col]))
        docs = []
        for h in ranked:
            if h[0] not in docs:
                docs.append(h[0])
        rank = next((i + 1 for i, d in enumerate(docs) if d in gold), None)
        if rank is not None and rank <= k:
            continue
        missed += 1
        prefix = gold[0].split("#")[0]
        same = sum(1 for d in docs[:10] if d.split("#")[0] == prefix)
        print(f"[{rank}] {questions[qi]['question'][:120]}")
        print(f"    gold: {gold[0]} {titles.get(gold[0], '')[:100]}")
        print(f"    first: {docs[0] if docs else None} {titles.get(docs[0], '')[:100] if docs else ''}")
        print(f"    first 10 sharing the gold id's prefix: {same}")
    print(f"{missed} of {len(runs)} questions without a gold document in the {leg} leg's first {k}")


if __name__ == "__main__":
    main()
