#!/usr/bin/env bash
# scripts/run_demo.sh KBOX [ARGS]: kbox's main job over the bundled samples, as far as it is built.
# Today that is the foundation: version, CPU features and the effective config. It grows into
# `kbox serve` over samples/ as the ingestion, store and web work lands.
set -euo pipefail
kbox=$1
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
"$kbox" version
"$kbox" --config "$root/config/kbox.json" config show "$@"
