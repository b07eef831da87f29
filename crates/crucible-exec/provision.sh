#!/usr/bin/env bash
# Provision crucible-exec's toolchains and the extra dependencies HumanEval-X programs use,
# so that they compile offline inside the sandbox.
#
# Usage: crates/crucible-exec/provision.sh [CACHE_DIR]
#   CACHE_DIR defaults to $CRUCIBLE_HOME/cache/exec (CRUCIBLE_HOME defaults to
#   $XDG_DATA_HOME/crucible or ~/.local/share/crucible), the directory `crucible exec` uses.
# Set CRUCIBLE_SKIP_APT=1 to skip the Debian packages (e.g. when not root).
#
# Installs (Debian), when missing: gcc g++ libboost-dev libssl-dev python3 python3-numpy
#   python3-pytest python3-markupsafe python3-trio python3-freezegun openjdk-17-jdk-headless
#   nodejs npm golang-go
#   golang-github-stretchr-testify-dev (Go's testify, under /usr/share/gocode).
# Builds into CACHE_DIR/deps: Rust rlibs of rand 0.4, regex 1 and md5 0.7 (with the rustc on
#   PATH, through cargo), and the npm package js-md5.
set -euo pipefail
# Installed files must be readable by the sandbox user (uid 65534 when run as root).
umask 022

home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
cache=${1:-$home/cache/exec}
mkdir -p "$cache/deps"

# Only what is missing: a distribution may ship node and npm together (e.g. a nodejs build
# that bundles npm conflicts with Debian's npm package).
missing=()
need() { if ! eval "$1" >/dev/null 2>&1; then missing+=("$2"); fi; }
need "command -v gcc" gcc
need "command -v g++" g++
need "test -f /usr/include/boost/any.hpp" libboost-dev
need "test -f /usr/include/openssl/md5.h" libssl-dev
need "test -x /usr/bin/python3" python3
# numpy: the environments of the reference harnesses (OpenAI human-eval and EvalPlus depend on
# it) let model programs import it, so the sandbox's Python has it too.
need "/usr/bin/python3 -c 'import numpy'" python3-numpy
# pytest runs a package's own tests for function-level repository tasks
# (`crucible data repobench --functions`); markupsafe, trio and freezegun are what the test
# suites of the documented set (click, itsdangerous, jinja2, toolz) import besides it.
need "/usr/bin/python3 -c 'import pytest'" python3-pytest
need "/usr/bin/python3 -c 'import markupsafe'" python3-markupsafe
need "/usr/bin/python3 -c 'import trio'" python3-trio
need "/usr/bin/python3 -c 'import freezegun'" python3-freezegun
need "command -v javac" openjdk-17-jdk-headless
need "command -v node" nodejs
need "command -v npm" npm
need "command -v go" golang-go
need "test -d /usr/share/gocode/src/github.com/stretchr/testify" golang-github-stretchr-testify-dev
if [ "${#missing[@]}" -gt 0 ] && [ "${CRUCIBLE_SKIP_APT:-0}" != 1 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then
      sudo="sudo"
    else
      echo "provision: not root and no sudo; install these Debian packages: ${missing[*]}" >&2
      missing=()
    fi
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "provision: installing ${missing[*]}" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
# A restrictive umask during unpacking leaves directories mode 700, which the sandbox user
# cannot enter (seen with Go's testify under /usr/share/gocode).
if [ -d /usr/share/gocode ] && find /usr/share/gocode -type d ! -perm -o+rx | grep -q .; then
  if [ "$(id -u)" = 0 ]; then chmod -R a+rX /usr/share/gocode; else sudo chmod -R a+rX /usr/share/gocode; fi
fi

# Rust crates: build once with cargo, keep only the rlibs (rustc gets them with --extern).
rust_ready() { ls "$cache"/deps/rust/librand-*.rlib "$cache"/deps/rust/libregex-*.rlib "$cache"/deps/rust/libmd5-*.rlib >/dev/null 2>&1; }
if rust_ready; then
  echo "provision: Rust crates already in $cache/deps/rust"
elif command -v cargo >/dev/null; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/src"
  cat > "$work/Cargo.toml" <<'TOML'
[package]
name = "crucible-exec-deps"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
rand = "0.4"
regex = "1"
md5 = "0.7"

[profile.release]
debug = false
TOML
  echo "" > "$work/src/lib.rs"
  (cd "$work" && CARGO_TARGET_DIR="$work/target" cargo build --release -q)
  rm -rf "$cache/deps/rust.new"
  mkdir -p "$cache/deps/rust.new"
  cp "$work"/target/release/deps/*.rlib "$cache/deps/rust.new/"
  rm -rf "$cache/deps/rust"
  mv "$cache/deps/rust.new" "$cache/deps/rust"
  echo "provision: Rust crates in $cache/deps/rust"
else
  echo "provision: cargo not found; Rust programs using rand/regex/md5 will not compile" >&2
fi

# JavaScript: js-md5 for HumanEval-X JavaScript/162.
if [ -f "$cache/deps/node/node_modules/js-md5/package.json" ]; then
  echo "provision: npm packages already in $cache/deps/node/node_modules"
elif command -v npm >/dev/null; then
  mkdir -p "$cache/deps/node"
  npm install --silent --no-audit --no-fund --prefix "$cache/deps/node" js-md5 >/dev/null
  echo "provision: npm packages in $cache/deps/node/node_modules"
else
  echo "provision: npm not found; skipping js-md5" >&2
fi
