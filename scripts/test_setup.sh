#!/usr/bin/env bash
# scripts/test_setup.sh: prepares what the tests need beyond Debian packages: the npm packages of the
# browser test (playwright-core, driving Debian's /usr/bin/chromium) and of the OpenAI-client test
# (openai), pinned in tests/web/node/package.json and installed into tests/web/node/node_modules.
# Idempotent: nothing is fetched when the pinned versions are already there. Without node/npm, or
# when npm cannot reach its registry, it says so and succeeds (those tests then skip), except
# under CI=true, where the browser tests must run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/tests/web/node
# Debian's nodejs comes without npm (the machines here ship nodesource's, which includes it).
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >&2 || true
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "kbox test setup: npm not found; the browser and OpenAI-client tests will skip" >&2
  [ "${CI:-}" = true ] && { echo "kbox test setup: CI must run the browser tests" >&2; exit 1; }
  exit 0
fi
have() { # have PACKAGE VERSION
  [ -f "$dir/node_modules/$1/package.json" ] &&
    grep -q "\"version\": \"$2\"" "$dir/node_modules/$1/package.json"
}
want() { sed -n "s/.*\"$1\": \"\([^\"]*\)\".*/\1/p" "$dir/package.json"; }
if have playwright-core "$(want playwright-core)" && have openai "$(want openai)"; then
  exit 0
fi
echo "kbox test setup: installing npm packages into tests/web/node" >&2
if ! npm install --prefix "$dir" --no-audit --no-fund --no-package-lock --loglevel=error >&2; then
  # no registry (offline CI): the node tests then skip with a message instead of failing the run
  echo "kbox test setup: npm install failed; the browser and OpenAI-client tests will skip" >&2
  [ "${CI:-}" = true ] && { echo "kbox test setup: CI must run the browser tests" >&2; exit 1; }
fi
