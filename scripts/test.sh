#!/usr/bin/env bash
# The quickstart's second command: the whole test suite (format, lints, unit, integration and
# real-model tests). Runs setup first, so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings
cargo test --release --locked --workspace
