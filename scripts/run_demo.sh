#!/usr/bin/env bash
# scripts/run_demo.sh KBOX [ARGS]: kbox's main job over the bundled samples, as far as this binary
# was built (`kbox version` lists its parts): ingest samples/ into ./kbox-data, then serve the web
# UI (`kbox serve`, printing the URL and the admin token); without the web part, answer one English
# and one Chinese sample question instead. ARGS go to `kbox serve` (e.g. --port 0).
set -euo pipefail
kbox=$1
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
parts=$("$kbox" version --json)
run=("$kbox" --config "$root/config/kbox.json" --data-dir "${KBOX_DATA_DIR:-$root/kbox-data}")
"$kbox" version
if [[ "$parts" != *rag* ]]; then
  echo "kbox: this build has no knowledge base yet; showing the configuration instead" >&2
  exec "${run[@]}" config show
fi
# The documents only: samples/QUESTIONS.md holds test answers, and samples/formats/ repeats the same
# documents as PDF/DOCX/XLSX/PPTX for the tests (upload those through the UI to try the formats).
"${run[@]}" ingest "$root/samples/en" "$root/samples/zh"
if [[ "$parts" == *web* ]]; then
  exec "${run[@]}" serve "$@"
fi
echo "kbox: the web server is not built yet; asking two sample questions instead" >&2
"${run[@]}" ask "How many days do I have to return a kettle?"
"${run[@]}" ask "电水壶签收后多少天内可以退货？"
