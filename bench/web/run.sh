#!/usr/bin/env bash
# bench/web/run.sh KBOX [SECONDS] [CONNECTIONS]: the web benchmark (not a test). Starts `kbox serve`
# on 127.0.0.1 over a fresh data directory, uploads samples/en and samples/zh through the API, then
# measures with wrk (2 threads): requests/s and latency percentiles of POST /api/search and of
# non-streamed extractive POST /api/ask, plus the server's RSS idle (after start and ingestion) and
# under load (peak VmHWM). Rate limiting is off for the run unless KBOX_BENCH_RATE sets
# server.rate_limit_per_min (e.g. 1000000: the limiter's accounting runs but never refuses). Results
# go to stdout as Markdown for docs/BENCHMARKS.md.
set -euo pipefail
kbox=$(realpath "$1")
secs=${2:-10}
conns=${3:-32}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v wrk >/dev/null || { echo "bench/web: wrk is missing (Debian package wrk)" >&2; exit 1; }
dir=$(mktemp -d /tmp/kbox-bench-web-XXXXXX)
out=$dir/serve.out
token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$kbox" --data-dir "$dir/data" --set server.rate_limit_per_min="${KBOX_BENCH_RATE:-0}" --set log.level=warn --set auth.admin_token=$token serve --port 0 --quiet >"$out" 2>"$dir/serve.err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q 'kbox: log in' "$out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.]*:[0-9]*' "$out" | head -1)
rss() { awk "/^$2:/ {print \$2}" "/proc/$1/status"; }
rss_start=$(rss $pid VmRSS)
args=()
for f in "$root"/samples/en/* "$root"/samples/zh/*; do args+=(-F "file=@$f"); done
curl -sf -H "Authorization: Bearer $token" "${args[@]}" "$url/api/documents" >/dev/null
for _ in $(seq 300); do
  q=$(curl -sf "$url/api/health" | grep -o '"queued":[0-9]*,"running":[0-9]*' || true)
  [ "$q" = '"queued":0,"running":0' ] && break
  sleep 0.2
done
docs=$(curl -sf "$url/api/health")
sleep 1
rss_idle=$(rss $pid VmRSS)
echo "## web (kbox serve, $(nproc) cores, wrk -t2 -c$conns -d${secs}s, $(date -u +%F))"
echo
echo "Knowledge base: $(grep -o '"documents":[0-9]*' <<<"$docs" | cut -d: -f2) documents, $(grep -o '"chunks":[0-9]*' <<<"$docs" | cut -d: -f2) chunks."
echo
echo "| endpoint | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
for s in search ask; do
  res=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/$s.lua" "$url" 2>&1)
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$res")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$res")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$res")
  bad=$(grep -o 'Non-2xx or 3xx responses: [0-9]*' <<<"$res" || true)
  echo "| POST /api/$s | $rps | $p50 | $p99 |${bad:+ $bad}"
done
echo
echo "RSS: $((rss_start / 1024)) MB at start, $((rss_idle / 1024)) MB idle after ingestion, $(( $(rss $pid VmHWM) / 1024 )) MB peak under load (no model)."
