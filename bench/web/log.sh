#!/usr/bin/env bash
# bench/web/log.sh KBOX [SECONDS] [CONNECTIONS] [ROUNDS]: the cost of the conversation log (issue #15)
# on POST /api/ask throughput (not a test). One data directory gets samples/en and samples/zh; then
# `kbox serve` runs on it alternately with log.enabled=true and false, ROUNDS times each (the
# alternation spreads the noise of a shared machine over both), and wrk (2 threads) measures
# non-streamed extractive /api/ask (bench/web/ask.lua: no channel, so logged as "api").
# Prints Markdown for docs/BENCHMARKS.md: requests/s per round, the medians and their ratio.
set -euo pipefail
kbox=$(realpath "$1")
secs=${2:-10}
conns=${3:-16}
rounds=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v wrk >/dev/null || { echo "bench/web/log.sh: wrk is missing (Debian package wrk)" >&2; exit 1; }
dir=$(mktemp -d /tmp/kbox-bench-log-XXXXXX)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
"$kbox" --data-dir "$dir/data" --set log.level=warn ingest "$root"/samples/en "$root"/samples/zh >/dev/null
serve() { # $1: log.enabled
  "$kbox" --data-dir "$dir/data" --set server.rate_limit_per_min=0 --set log.level=warn --set "log.enabled=$1" \
    serve --port 0 --quiet >"$dir/serve.out" 2>"$dir/serve.err" &
  pid=$!
  for _ in $(seq 100); do grep -q 'admin token' "$dir/serve.out" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'http://[0-9.]*:[0-9]*' "$dir/serve.out" | head -1)
  wrk -t2 -c"$conns" -d2s -s "$here/ask.lua" "$url" >/dev/null 2>&1 # warm-up
  res=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/ask.lua" "$url" 2>&1)
  kill $pid; wait $pid 2>/dev/null || true; pid=
  awk '/^Requests\/sec:/ {print $2}' <<<"$res"
}
on=(); off=()
for r in $(seq "$rounds"); do
  on+=("$(serve true)")
  off+=("$(serve false)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
mon=$(median "${on[@]}"); moff=$(median "${off[@]}")
logged=$(sqlite3 "$dir/data/kbox.db" 'SELECT count(*) FROM messages' 2>/dev/null || echo '?')
echo "## conversation log cost on /api/ask ($(nproc) cores, wrk -t2 -c$conns -d${secs}s x $rounds rounds each, $(date -u +%F))"
echo
echo "| log.enabled | requests/s per round | median |"
echo "|---|---|---|"
echo "| true | ${on[*]} | $mon |"
echo "| false | ${off[*]} | $moff |"
echo
awk -v a="$mon" -v b="$moff" 'BEGIN {printf "Logging costs %.1f%% of /api/ask throughput (median with / median without).\n", (1 - a / b) * 100}'
echo "Messages logged during the run: $logged."
