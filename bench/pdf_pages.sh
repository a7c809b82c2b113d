#!/usr/bin/env bash
# bench/pdf_pages.sh KBOX [SHARED_EVAL_DIR]: PDF ingestion of the real SEC filings in
# financebench_en/raw_pdfs, measured three ways, for docs/BENCHMARKS.md:
# - ingestion time: wall seconds of `kbox ingest --dry-run` (parse + chunk) and of a full `kbox ingest`
#   (parse, chunk, embed, store) of all the raw PDFs into a fresh data dir, best of 3;
# - page attribution: every sentence of every chunk is looked up in the reference text of its PDF
#   (corpus.jsonl: one row per page, poppler pdftotext); a sentence counts when the page kbox gives
#   for it (the chunk's page_map when present, else page_first) is the reference page holding it.
#   Sentences of under 6 words, or found on no or several reference pages, are not counted;
# - page-level retrieval: the dev questions about these PDFs (meta.raw_pdf) searched with
#   `kbox search --json`; a hit is right when the page it cites (page_start) is the gold page
#   (gold ids are "<doc>#p<zero-based page>"), or, for the "span" column, when the gold page lies in
#   page_start..page_end. R@1, R@5, MRR@10 over those questions.
# Config comes from kbox's usual sources. Usage: bench/pdf_pages.sh build/cli/kbox
set -euo pipefail
kbox=$(realpath "$1")
dir=${2:-$(cd "$(dirname "$0")/../.." && pwd)/shared/eval}
fb=$dir/financebench_en
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
best() { # best wall seconds of 3 runs of "$@"
  local b=999999
  for _ in 1 2 3; do
    rm -rf "$work/data"
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    b=$(python3 -c "print(min($b, $t1 - $t0))")
  done
  echo "$b"
}
pdfs=("$fb"/raw_pdfs/*.pdf)
t_dry=$(best "$kbox" --set log.level=warn ingest --dry-run --json "${pdfs[@]}")
t_full=$(best "$kbox" --data-dir "$work/data" --set log.level=warn ingest "${pdfs[@]}")
"$kbox" --set log.level=warn ingest --dry-run --json --no-blocks "${pdfs[@]}" >"$work/dry.json"
rm -rf "$work/data"
"$kbox" --data-dir "$work/data" --set log.level=warn ingest "${pdfs[@]}" >/dev/null
python3 - "$fb" "$work" "$kbox" "$t_dry" "$t_full" "${#pdfs[@]}" <<'PY'
import json, os, re, subprocess, sys
fb, work, kbox, t_dry, t_full, n_pdfs = sys.argv[1:7]
ref = {}  # doc -> {page (1-based): normalised text}
for line in open(os.path.join(fb, "corpus.jsonl")):
    r = json.loads(line)
    ref.setdefault(r["meta"]["doc_name"], {})[r["meta"]["page"] + 1] = r["text"]
norm = lambda s: " ".join(re.findall(r"[a-z0-9]+", s.lower()))
refn = {d: {p: norm(t) for p, t in pages.items()} for d, pages in ref.items()}
out = json.loads(open(os.path.join(work, "dry.json")).read())
files = out if isinstance(out, list) else out.get("files", out)
right = counted = 0
for f in files:
    doc = os.path.basename(f["path"])[:-4]
    if not f.get("ok") or doc not in refn:
        continue
    for c in f["chunks"]:
        text = c["text"].encode()
        marks = [(0, c.get("page_first", 0))]
        for m in filter(None, c.get("page_map", "").split(",")):
            o, p = m.split(":")
            marks.append((int(o), int(p)))
        for s in re.finditer(rb"[^.!?]+[.!?]?", text):
            words = norm(s.group().decode("utf-8", "replace"))
            if len(words.split()) < 6:
                continue
            pages = [p for p, t in refn[doc].items() if words in t]
            if len(pages) != 1:
                continue
            first = s.start() + len(s.group()) - len(s.group().lstrip())  # the sentence's first character
            page = [p for o, p in marks if o <= first][-1]
            counted += 1
            right += page == pages[0]
qs = [json.loads(l) for l in open(os.path.join(fb, "questions.dev.jsonl"))]
qs = [q for q in qs if q.get("meta", {}).get("raw_pdf")]
def score(hit_ok):
    r1 = r5 = mrr = 0.0
    for q in qs:
        res = subprocess.run([kbox, "--data-dir", os.path.join(work, "data"), "--set", "log.level=warn", "--json",
                              "search", q["question"], "--top-k", "10"], capture_output=True, text=True, check=True)
        hits = json.loads(res.stdout)["hits"]
        gold = {(g.split("#p")[0], int(g.split("#p")[1]) + 1) for g in q["gold_ids"]}
        rank = next((i + 1 for i, h in enumerate(hits) if hit_ok(h, gold)), 0)
        r1 += rank == 1
        r5 += 0 < rank <= 5
        mrr += 1.0 / rank if rank else 0.0
    n = len(qs)
    return r1 / n, r5 / n, mrr / n
doc_of = lambda h: h["document"][:-4]
cited = score(lambda h, gold: (doc_of(h), h["page_start"]) in gold)
span = score(lambda h, gold: any(d == doc_of(h) and h["page_start"] <= p <= h["page_end"] for d, p in gold))
print(f"PDFs: {n_pdfs}; ingest --dry-run: {float(t_dry):.2f} s; full ingest: {float(t_full):.2f} s (best of 3)")
print(f"page attribution: {right}/{counted} sentences on the right page ({right / max(counted, 1):.3f})")
print(f"retrieval over {len(qs)} questions: cited page R@1 {cited[0]:.3f} R@5 {cited[1]:.3f} MRR@10 {cited[2]:.3f}; "
      f"gold in span R@1 {span[0]:.3f} R@5 {span[1]:.3f} MRR@10 {span[2]:.3f}")
PY
