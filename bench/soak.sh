#!/usr/bin/env bash
# bench/soak.sh KBOX [SECONDS] [WARMUP_SECONDS]: the soak run of issue #22 item 10 (a bench, not a
# test: it takes minutes). Starts `kbox serve` on 127.0.0.1 over a fresh data directory with
# samples/en and samples/zh uploaded, then keeps four clients busy for SECONDS (default 600):
# search, extractive ask, uploads of small new documents (each deleted again), and settings changes
# (index.top_k flips). Every 10 s it samples the server's RSS (VmRSS) and open file descriptors.
# After WARMUP_SECONDS (default SECONDS/5) the load pauses 3 s and the baseline RSS and fds are taken;
# at the end the load stops, 3 s pass, and the final ones are taken. It fails (exit 1) when RSS grew
# more than 10% over the baseline, when fds grew (a leak), or when a request failed other than by
# the limits (429/503). Output: Markdown for docs/BENCHMARKS.md.
set -euo pipefail
kbox=$(realpath "$1")
secs=${2:-600}
warm=${3:-$((secs / 5))}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dir=$(mktemp -d /tmp/kbox-soak-XXXXXX)
token=soak-admin-token-0123456789abcdef0123
"$kbox" --data-dir "$dir/data" --set server.rate_limit_per_min=0 --set server.admin_token=$token \
  --set log.level=warn serve --port 0 --quiet >"$dir/serve.out" 2>"$dir/serve.err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q 'kbox: log in' "$dir/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.]*:[0-9]*' "$dir/serve.out" | head -1)
auth="Authorization: Bearer $token"
args=()
for f in "$root"/samples/en/* "$root"/samples/zh/*; do args+=(-F "file=@$f"); done
curl -sf -H "$auth" "${args[@]}" "$url/api/documents" >/dev/null
for _ in $(seq 300); do
  q=$(curl -sf "$url/api/health" | grep -o '"queued":[0-9]*,"running":[0-9]*' || true)
  [ "$q" = '"queued":0,"running":0' ] && break
  sleep 0.2
done
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
fds() { ls "/proc/$pid/fd" | wc -l; }
touch "$dir/pause"
# one client: loops its request kind while $dir/run exists, sleeping while $dir/pause exists;
# counts requests and unexpected statuses in $dir/<kind>.n / .err
client() {
  local kind=$1 n=0 bad=0 code i=0
  while [ -e "$dir/run" ]; do
    if [ -e "$dir/pause" ]; then sleep 0.2; continue; fi
    i=$((i + 1))
    case $kind in
    search) code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
              -d "{\"query\":\"warranty period $i\"}" "$url/api/search") ;;
    ask) code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
              -d '{"question":"How long is the warranty on the grinder?"}' "$url/api/ask") ;;
    upload)
      printf 'Soak note %d: the gizmo %d needs oil every %d days.\n' "$i" "$i" "$i" >"$dir/note-$i.txt"
      out=$(curl -s -w '\n%{http_code}' -H "$auth" -F "file=@$dir/note-$i.txt" "$url/api/documents")
      code=${out##*$'\n'}
      rm -f "$dir/note-$i.txt"
      id=$(grep -o '"document_id":[0-9]*' <<<"$out" | head -1 | cut -d: -f2 || true)
      # every upload is deleted again, so the knowledge base stays the same size and RSS growth
      # means a leak, not more data (keeping half of them grew RSS 13% in 10 minutes)
      if [ -n "$id" ]; then sleep 0.5; curl -s -o /dev/null -X DELETE -H "$auth" "$url/api/documents/$id"; fi ;;
    settings) code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$auth" -H 'Content-Type: application/json' \
              -d "{\"index.top_k\":$((5 + i % 3))}" "$url/api/settings"); sleep 0.5 ;;
    esac
    n=$((n + 1))
    case $code in 2??|429|503) ;; *) bad=$((bad + 1)); echo "$kind $code" >>"$dir/errors" ;; esac
  done
  echo $n >"$dir/$kind.n"
  echo $bad >"$dir/$kind.err"
}
touch "$dir/run"
rm -f "$dir/pause"
for k in search ask upload settings; do client $k & done
t0=$(date +%s)
samples=()
base_rss=0 base_fds=0
while :; do
  now=$(( $(date +%s) - t0 ))
  [ $now -ge $secs ] && break
  samples+=("| $now | $(rss) | $(fds) |")
  if [ $base_rss -eq 0 ] && [ $now -ge $warm ]; then
    touch "$dir/pause"; sleep 3
    base_rss=$(rss) base_fds=$(fds)
    rm -f "$dir/pause"
  fi
  sleep 10
done
rm -f "$dir/run"
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
sleep 3
end_rss=$(rss) end_fds=$(fds)
total=0 errors=0
for k in search ask upload settings; do
  total=$((total + $(cat "$dir/$k.n" 2>/dev/null || echo 0)))
  errors=$((errors + $(cat "$dir/$k.err" 2>/dev/null || echo 0)))
done
echo "## soak (kbox serve, $(nproc) cores, ${secs} s, warm-up ${warm} s, $(date -u +%F))"
echo
echo "Command: \`bench/soak.sh build/cli/kbox $secs $warm\`. Four clients: search, extractive ask, upload (+ delete of every"
echo "upload), settings change. $total requests, $errors unexpected statuses."
echo
echo "| t (s) | RSS (KiB) | open fds |"
echo "|---|---|---|"
printf '%s\n' "${samples[@]}"
echo
echo "Baseline after warm-up (load paused 3 s): RSS $base_rss KiB, $base_fds fds. End (load stopped 3 s): RSS $end_rss KiB, $end_fds fds."
[ -s "$dir/errors" ] && { echo; echo "Unexpected statuses:"; sort "$dir/errors" | uniq -c | sed 's/^/    /'; }
fail=0
if [ "$base_rss" -gt 0 ] && [ "$end_rss" -gt $((base_rss * 11 / 10)) ]; then echo "FAIL: RSS grew more than 10% after warm-up"; fail=1; fi
if [ "$end_fds" -gt "$base_fds" ]; then echo "FAIL: open fds grew from $base_fds to $end_fds"; fail=1; fi
if [ "$errors" -gt 0 ]; then echo "FAIL: $errors requests failed"; fail=1; fi
[ $fail -eq 0 ] && echo "PASS"
exit $fail
