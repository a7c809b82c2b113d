#!/usr/bin/env bash
# tests/check_layering.sh SRC_DIR: fails when a module includes a header from a module above it in
# base <- {text, config} <- {ingest, index, infer} <- rag <- web <- cli, or another module's internal
# header. A module's public header is <m>/<m>.h (base also exports base/err.h, config its key table);
# everything else in a module folder is internal to it. text/, config/ and infer/ use base/ only.
set -u
cd "$1" || exit 2
declare -A allowed=(
  [base]=""
  [text]="base"
  [config]="base"
  [ingest]="base text config"
  [index]="base text config"
  [infer]="base"
  [rag]="base text config ingest index infer"
  [web]="base text config ingest index infer rag"
  [cli]="base text config ingest index infer rag web"
)
public_extra=" base/err.h config/keys.h "
bad=0
for m in "${!allowed[@]}"; do
  [ -d "$m" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"${line#*:}")
    dep=${inc%%/*}
    [ "$dep" = "$inc" ] && continue          # same-folder include without a module path
    [ "$dep" = "$m" ] && continue            # own module: internals allowed
    [ -n "${allowed[$dep]+x}" ] || continue  # not a kbox module
    if [[ " ${allowed[$m]} " != *" $dep "* ]]; then
      echo "layering: $file includes $inc, but $m may not depend on $dep" >&2; bad=1
    elif [ "$inc" != "$dep/$dep.h" ] && [[ "$public_extra" != *" $inc "* ]]; then
      echo "layering: $file includes $inc, an internal header of $dep" >&2; bad=1
    fi
  done < <(grep -rHE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$m" --include='*.c' --include='*.h' --include='*.cpp' 2>/dev/null)
done
# Calls the house style bans (STYLE.md point 24).
if grep -rnE '\b(sprintf|strcpy|strcat|strtok|atoi|atof|gets)[[:space:]]*\(' base text config ingest index infer rag web cli tests fuzz bench --include='*.c' --include='*.h' 2>/dev/null; then
  echo "layering: banned calls above (use snprintf, kb_strlcpy, kb_buf, kb_parse_i64)" >&2; bad=1
fi
[ $bad -eq 0 ] && echo "layering: ok"
exit $bad
