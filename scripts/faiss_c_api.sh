#!/usr/bin/env bash
# scripts/faiss_c_api.sh OUT_DIR: builds FAISS's C API as a static library, OUT_DIR/libfaiss_c.a.
# Debian's libfaiss-dev ships the C API headers and libfaiss.a but not the C API's own objects, so we
# compile c_api/*.cpp from Debian's faiss source package of exactly the installed version. The
# source comes through apt with a private sources list, lists and cache under OUT_DIR: the system's
# apt configuration is never touched. A stamp naming the version makes re-runs free.
set -euo pipefail
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
ver=$(dpkg-query -W -f='${source:Version}' libfaiss-dev 2>/dev/null || true)
[ -n "$ver" ] || { echo "faiss_c_api: libfaiss-dev is not installed (run scripts/setup.sh)" >&2; exit 1; }
if [ -f "$out/libfaiss_c.a" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$ver" ]; then exit 0; fi

apt="$out/apt"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/src"
cat > "$apt/sources.list" <<SRC
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
SRC
opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1
      -o APT::Sandbox::User=root)
if ! ls "$apt"/src/faiss_*.dsc >/dev/null 2>&1; then
  apt-get "${opts[@]}" -q update >&2
  (cd "$apt/src" && apt-get "${opts[@]}" -q source --download-only "faiss=$ver" >&2)
fi
rm -rf "$apt/tree"
dpkg-source --no-check -x "$(ls "$apt"/src/faiss_*.dsc | head -1)" "$apt/tree" >/dev/null
src="$apt/tree"
objs="$out/obj"
rm -rf "$objs"; mkdir -p "$objs"
n=0
for f in "$src"/c_api/*.cpp "$src"/c_api/impl/*.cpp "$src"/c_api/utils/*.cpp; do
  [ -f "$f" ] || continue
  n=$((n + 1))
  g++ -O2 -fPIC -std=c++17 -I"$src" -w -c "$f" -o "$objs/$n-$(basename "$f" .cpp).o" &
  if (( n % 2 == 0 )); then wait; fi
done
wait
[ "$n" -gt 0 ] || { echo "faiss_c_api: no C API sources found in $src" >&2; exit 1; }
rm -f "$out/libfaiss_c.a"
ar rcs "$out/libfaiss_c.a" "$objs"/*.o
echo "$ver" > "$out/stamp"
rm -rf "$apt/tree" "$objs"
