#!/usr/bin/env bash
# bench/eval_all.sh KBOX [SHARED_EVAL_DIR]: runs `kbox eval` on every dev set in ../shared/eval and
# prints the Markdown table that docs/BENCHMARKS.md holds (R@1, R@5, R@10, MRR@10 per method, plus
# EM and F1 of the extractive answers for hybrid).
set -euo pipefail
kbox=$1
dir=${2:-$(cd "$(dirname "$0")/../.." && pwd)/shared/eval}
echo "| dataset | questions | method | R@1 | R@5 | R@10 | MRR@10 | EM | F1 |"
echo "|---|---|---|---|---|---|---|---|---|"
for d in "$dir"/*/; do
  name=$(basename "$d")
  [ -f "$d/corpus.jsonl" ] || continue
  out=$("$kbox" --set log.level=warn eval --json --corpus "$d/corpus.jsonl" --questions "$d/questions.dev.jsonl")
  python3 - "$name" "$out" <<'PY'
import json, sys
name, o = sys.argv[1], json.loads(sys.argv[2])
for m in ("bm25", "vector", "hybrid"):
    s = o[m]
    print(f"| {name} | {o['questions']} | {m} | {s['recall@1']:.3f} | {s['recall@5']:.3f} | {s['recall@10']:.3f} | {s['mrr@10']:.3f} | {s['em']:.3f} | {s['f1']:.3f} |")
PY
done
