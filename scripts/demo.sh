#!/usr/bin/env bash
# The quickstart's first command: set up everything, then generate a C++ program for an
# example task (a stdin/stdout problem with examples) with the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
bin="${CARGO_TARGET_DIR:-target}/release/crucible"
echo "demo: crucible generate --lang cpp --task examples/tasks/sum-of-two.json" >&2
"$bin" generate --lang cpp --task examples/tasks/sum-of-two.json
