#!/usr/bin/env bash
# scripts/setup.sh: installs the Debian 12 packages kbox needs to build and test.
# The lists live in scripts/packages/*.txt, one package a line, '#' starts a comment; each module's
# work adds its own file. As root, missing packages are installed with apt-get; otherwise the script
# names the missing packages and exits 1. Idempotent: nothing is installed when nothing is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t wanted < <(cat "$here"/packages/*.txt | sed 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
missing=()
for p in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "kbox setup: missing Debian packages: ${missing[*]}" >&2
  echo "kbox setup: install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "kbox setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
