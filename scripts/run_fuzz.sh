#!/usr/bin/env bash
# scripts/run_fuzz.sh BUILD_DIR SECONDS: runs every libFuzzer target built in BUILD_DIR/fuzz for
# SECONDS each, starting from its checked-in seed corpus fuzz/corpus/<target>/ (copied, so the
# checked-in corpus never changes). Fails if any target finds a crash.
set -euo pipefail
dir=$1 secs=$2
root=$(cd "$(dirname "$0")/.." && pwd)
n=0
# UBSan reports must stop the run (kb_fuzz builds recover from them otherwise).
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1
for t in "$dir"/fuzz/fuzz_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  work=$(mktemp -d)
  [ -d "$root/fuzz/corpus/$name" ] && cp -r "$root/fuzz/corpus/$name/." "$work/"
  echo "fuzz: $name for ${secs}s"
  "$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$dir/fuzz/$name-" "$work" \
    >"$dir/fuzz/$name.log" 2>&1 || { tail -40 "$dir/fuzz/$name.log"; echo "fuzz: $name FAILED"; exit 1; }
  rm -rf "$work"
  n=$((n + 1))
done
echo "fuzz: $n targets ran clean"
