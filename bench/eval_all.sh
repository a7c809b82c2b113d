#!/usr/bin/env bash
# bench/eval_all.sh KBOX [SHARED_EVAL_DIR]: runs `kbox eval` on every dev set in ../shared/eval and
# prints the Markdown table that docs/BENCHMARKS.md holds (R@1, R@5, R@10, MRR@10 per method, plus
# EM and F1 of the extractive answers for hybrid), then one line per set saying whether hybrid is
# ahead of both single methods (MRR@10 strictly higher, R@10 not lower, unrounded) and a count, then
# a table against the plain BM25 reference in SHARED_EVAL_DIR/README.md (as printed there, and
# recomputed exactly by bench/ref_bm25.py). Config comes
# from kbox's usual sources, so environment overrides work, e.g.
#   KBOX_INDEX_VECTOR_WEIGHT=0.7 bench/eval_all.sh build/cli/kbox
set -euo pipefail
kbox=$1
dir=${2:-$(cd "$(dirname "$0")/../.." && pwd)/shared/eval}
summary=$(mktemp)
trap 'rm -f "$summary" "$summary.json" "${exact:-}"' EXIT
echo "| dataset | questions | method | R@1 | R@5 | R@10 | MRR@10 | EM | F1 |"
echo "|---|---|---|---|---|---|---|---|---|"
for d in "$dir"/*/; do
  name=$(basename "$d")
  [ -f "$d/corpus.jsonl" ] || continue
  out=$("$kbox" --set log.level=warn eval --json --corpus "$d/corpus.jsonl" --questions "$d/questions.dev.jsonl")
  python3 - "$name" "$out" "$summary" <<'PY'
import json, sys
name, o, summary = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
for m in ("bm25", "vector", "hybrid"):
    s = o[m]
    print(f"| {name} | {o['questions']} | {m} | {s['recall@1']:.3f} | {s['recall@5']:.3f} | {s['recall@10']:.3f} | {s['mrr@10']:.3f} | {s['em']:.3f} | {s['f1']:.3f} |")
r = lambda m, k: o[m][k]
with open(summary + ".json", "a") as f:
    f.write(json.dumps({"set": name, "bm25": o["bm25"], "hybrid": o["hybrid"]}) + "\n")
# ahead: MRR@10 strictly higher and R@10 not lower than both single methods, on the unrounded values
# (the table rounds to 3 decimals; on sets near the ceiling one question moves MRR by under .001)
ahead = (r("hybrid", "mrr@10") > max(r("bm25", "mrr@10"), r("vector", "mrr@10")) and
         r("hybrid", "recall@10") >= max(r("bm25", "recall@10"), r("vector", "recall@10")))
gain = (r("hybrid", "mrr@10") - r("bm25", "mrr@10")) * o["questions"]
with open(summary, "a") as f:
    f.write(f"{name}: hybrid {'ahead' if ahead else 'NOT ahead'} (MRR@10 {r('hybrid', 'mrr@10'):.4f} vs "
            f"bm25 {r('bm25', 'mrr@10'):.4f}, vector {r('vector', 'mrr@10'):.4f}; "
            f"{gain:+.2f} reciprocal-rank points over bm25)\n")
PY
done
echo
cat "$summary"
echo "hybrid ahead of both on $(grep -c ': hybrid ahead' "$summary" || true) of $(wc -l < "$summary") sets"
# Against the plain BM25 reference table of $dir/README.md ("| dataset | corpus rows | dev questions |
# R@1 | R@5 | R@20 | MRR@10 |"): hybrid must be strictly above on R@5 and MRR@10, both rounded to the
# reference's three decimals (the reference is only known to three).
# The exact column recomputes the reference to six decimals with bench/ref_bm25.py and compares
# hybrid's four printed decimals with it.
exact=$(mktemp)
for d in "$dir"/*/; do
  [ -f "$d/corpus.jsonl" ] && python3 "$(dirname "$0")/ref_bm25.py" "$d" >> "$exact"
done
if [ -f "$dir/README.md" ]; then python3 - "$dir/README.md" "$summary.json" "$exact" <<'PY'
import json, sys
ref = {}
for line in open(sys.argv[1], encoding="utf-8"):
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    if len(c) == 7 and c[0] and c[4].replace(".", "", 1).isdigit():
        ref[c[0]] = (float(c[4]), float(c[6]))
exact = {}
for line in open(sys.argv[3]):
    e = json.loads(line)
    exact[e["set"]] = (e["recall@5"], e["mrr@10"])
print()
print("| dataset | bm25 R@5 / MRR@10 | hybrid R@5 / MRR@10 | reference R@5 / MRR@10 | strictly above (3 decimals) "
      "| reference recomputed | strictly above (exact) |")
print("|---|---|---|---|---|---|---|")
n_above = n_exact = n = 0
for line in open(sys.argv[2]):
    o = json.loads(line)
    b, h, r = o["bm25"], o["hybrid"], ref.get(o["set"])
    if not r:
        continue
    above = round(h["recall@5"], 3) > r[0] and round(h["mrr@10"], 3) > r[1]
    x = exact.get(o["set"], (1, 1))
    above_x = h["recall@5"] > x[0] + 5e-5 and h["mrr@10"] > x[1] + 5e-5  # hybrid is printed to 4 decimals
    n += 1
    n_above += above
    n_exact += above_x
    print(f"| {o['set']} | {b['recall@5']:.3f} / {b['mrr@10']:.3f} | {h['recall@5']:.4f} / {h['mrr@10']:.4f} | "
          f"{r[0]:.3f} / {r[1]:.3f} | {'yes' if above else 'no'} | {x[0]:.6f} / {x[1]:.6f} | {'yes' if above_x else 'no'} |")
print(f"hybrid strictly above the reference on both: {n_above} of {n} sets at 3 decimals, {n_exact} of {n} exactly")
PY
fi
