#!/usr/bin/env bash
# scripts/test_setup.sh: prepares what the tests need beyond Debian packages (today: nothing; the
# browser tests add playwright-core from npm here). Idempotent.
set -euo pipefail
exit 0
