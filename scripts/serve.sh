#!/usr/bin/env bash
# Install l3a and run the service on the embedded demo catalogue at http://127.0.0.1:8000/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh .
exec l3a serve "$@"
