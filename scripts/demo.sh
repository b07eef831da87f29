#!/usr/bin/env bash
# The quickstart's first command: set up everything, then generate a C++ program for an
# example task (a stdin/stdout problem with examples) with the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
bin="${CARGO_TARGET_DIR:-target}/release/crucible"
echo "demo: crucible generate --lang cpp --task examples/tasks/sum-of-two.json" >&2
status=0
"$bin" generate --lang cpp --task examples/tasks/sum-of-two.json || status=$?
if [ "$status" -eq 3 ]; then
  echo "demo: the program above failed the task's examples (exit 3, a failing verdict; see README, Exit codes)" >&2
fi
exit "$status"
