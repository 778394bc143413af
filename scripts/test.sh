#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine (Python >= 3.11), then run them.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/engine -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if ! command -v chromium >/dev/null 2>&1; then
    # Debian's Chromium for the browser tests (Playwright drives it by executable_path:
    # no browser download at run time).
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
source scripts/venv.sh '.[test]'
exec python -m pytest "$@"
