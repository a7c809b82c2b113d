#!/usr/bin/env bash
# bench/web/auth.sh KBOX [SECONDS] [CONNECTIONS] [ROUNDS]: what accounts cost (issue #16; not a test).
# Starts `kbox serve` on 127.0.0.1 over a fresh data directory with samples/en and samples/zh, makes
# a viewer account, a session for it and an "ask" API key, then measures:
#   - a login (Argon2id verification, m=64 MiB t=2 p=1, plus one HTTP round trip): the median and
#     p90 wall time of 20 successful and 20 failed sequential POST /api/login (an unknown email is
#     verified against a dummy hash, so both cost one verification; the failures use 20 different
#     emails so no lockout triggers);
#   - POST /api/search throughput with wrk (bench/web/search.lua) anonymously (server.public_ask),
#     with the API key and with the session id as Authorization: Bearer, alternating the three
#     ROUNDS times (the machine is shared and noisy: compare medians).
# Rate limiting is off. Results go to stdout as Markdown for docs/BENCHMARKS.md.
set -euo pipefail
kbox=$(realpath "$1")
secs=${2:-10}
conns=${3:-32}
rounds=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v wrk >/dev/null || { echo "bench/web: wrk is missing (Debian package wrk)" >&2; exit 1; }
dir=$(mktemp -d /tmp/kbox-bench-auth-XXXXXX)
out=$dir/serve.out
token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$kbox" --data-dir "$dir/data" --set server.rate_limit_per_min=0 --set log.level=warn --set auth.admin_token="$token" \
  --set auth.login_fails_per_ip_min=100000 serve --port 0 --quiet >"$out" 2>"$dir/serve.err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q 'kbox: log in' "$out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.]*:[0-9]*' "$out" | head -1)
adm=(-H "Authorization: Bearer $token" -H 'Content-Type: application/json')
args=()
for f in "$root"/samples/en/* "$root"/samples/zh/*; do args+=(-F "file=@$f"); done
curl -sf -H "Authorization: Bearer $token" "${args[@]}" "$url/api/documents" >/dev/null
for _ in $(seq 300); do
  q=$(curl -sf "$url/api/health" | grep -o '"queued":[0-9]*,"running":[0-9]*' || true)
  [ "$q" = '"queued":0,"running":0' ] && break
  sleep 0.2
done
curl -sf "${adm[@]}" -d '{"email":"v@example.com","role":"viewer","password":"bench-password-1"}' "$url/api/users" >/dev/null
curl -sf "${adm[@]}" -d '{"email":"e@example.com","role":"editor","password":"bench-password-1"}' "$url/api/users" >/dev/null
session=$(curl -sf -H 'Content-Type: application/json' -d '{"email":"v@example.com","password":"bench-password-1","token":true}' \
  "$url/api/login" | grep -o '"token":"[0-9a-f]*"' | cut -d'"' -f4)
etok=$(curl -sf -H 'Content-Type: application/json' -d '{"email":"e@example.com","password":"bench-password-1","token":true}' \
  "$url/api/login" | grep -o '"token":"[0-9a-f]*"' | cut -d'"' -f4)
key=$(curl -sf -H "Authorization: Bearer $etok" -H 'Content-Type: application/json' -d '{"name":"bench","scopes":["ask"]}' \
  "$url/api/keys" | grep -o '"secret":"[^"]*"' | cut -d'"' -f4)
[ -n "$session" ] && [ -n "$key" ] || { echo "bench/web/auth: no session or key" >&2; exit 1; }

# one login: curl's total time in ms, sorted; prints "median p90"
logins() {
  for i in $(seq 20); do
    curl -s -o /dev/null -w '%{time_total}\n' -H 'Content-Type: application/json' -d "$(printf "$1" "$i")" "$url/api/login"
  done | sort -n | awk '{t[NR]=$1*1000} END {printf "%.0f ms | %.0f ms", t[int(NR/2)+1], t[int(NR*0.9)]}'
}
echo "## accounts (kbox serve, $(nproc) cores, wrk -t2 -c$conns -d${secs}s, $(date -u +%F' '%H:%M) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| login (sequential, 20 each) | median | p90 |"
echo "|---|---|---|"
echo "| right password | $(logins '{"email":"v@example.com","password":"bench-password-1"}') |"
echo "| unknown email | $(logins '{"email":"nobody%s@example.com","password":"bench-password-1"}') |"
echo
echo "| round | credentials | POST /api/search req/s | p50 | p99 |"
echo "|---|---|---|---|---|"
for r in $(seq "$rounds"); do
  for who in none key session; do
    case $who in
      none) auth='' ;;
      key) auth="Bearer $key" ;;
      session) auth="Bearer $session" ;;
    esac
    res=$(KBOX_BENCH_AUTH="$auth" wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/search.lua" "$url" 2>&1)
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$res")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$res")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$res")
    bad=$(grep -o 'Non-2xx or 3xx responses: [0-9]*' <<<"$res" || true)
    echo "| $r | $who | $rps | $p50 | $p99 |${bad:+ $bad}"
  done
done
