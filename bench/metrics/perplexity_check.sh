#!/usr/bin/env bash
# Check crucible's teacher-forced perplexity against llama.cpp's own `llama-perplexity` on the
# same text, the same model and the same window rule (chunks of N_CTX tokens, second half of each
# chunk scored), and show what the default rule (every token scored once) gives on the same text.
#
# llama-perplexity is built from the llama.cpp sources vendored in the llama-cpp-sys-2 crate that
# Crucible links (as bench/inference/build-llama-bench.sh builds llama-bench), into
# $CRUCIBLE_HOME/cache/llama-perplexity; nothing of it is committed.
#
# Usage: bench/metrics/perplexity_check.sh MODEL.gguf TEXT_FILE [N_CTX] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
model=$1
text=$2
n_ctx=${3:-128}
threads=${4:-2}
home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
build=$home/cache/llama-perplexity
target=${CARGO_TARGET_DIR:-target}

if [ ! -x "$build/build/bin/llama-perplexity" ]; then
  version=$(grep -A1 '^name = "llama-cpp-sys-2"' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/llama-cpp-sys-2-"$version"/llama.cpp 2>/dev/null | head -1)
  if [ -z "$src" ] || [ ! -f "$src/CMakeLists.txt" ]; then
    echo "perplexity_check: llama.cpp sources of llama-cpp-sys-2 $version not found; run \`cargo fetch\`" >&2
    exit 1
  fi
  # The crate ships the library without the tools' sources; as build-llama-bench.sh does, the
  # driver then comes from the llama-cpp-python source package (fetched with pip).
  driver=$src/tools/perplexity
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if [ ! -f "$driver/CMakeLists.txt" ]; then
    python3 -m pip download --no-deps --no-binary=llama-cpp-python -q -d "$tmp" llama-cpp-python==0.3.36 >&2
    tar -xzf "$tmp"/llama_cpp_python-*.tar.gz -C "$tmp"
    driver=$(ls -d "$tmp"/llama_cpp_python-*/vendor/llama.cpp/tools/perplexity)
  fi
  mkdir -p "$build"
  rm -rf "$build/src"
  cp -r "$src" "$build/src"
  chmod -R u+w "$build/src"
  rm -rf "$build/src/tools"
  mkdir -p "$build/src/tools"
  cp -r "$driver" "$build/src/tools/perplexity"
  echo "add_subdirectory(perplexity)" > "$build/src/tools/CMakeLists.txt"
  cmake -S "$build/src" -B "$build/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_OPENMP=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF >&2
  cmake --build "$build/build" --target llama-perplexity -j "$(nproc)" >&2
fi

cargo build --release --locked -p crucible-infer-llama --example score_text >&2
echo "== llama-perplexity -c $n_ctx" >&2
"$build/build/bin/llama-perplexity" -m "$model" -f "$text" -c "$n_ctx" -b "$n_ctx" -t "$threads" 2>&1 \
  | grep -E "tokenizing the input|Final estimate" || true
echo "== crucible, llama-perplexity's rule (n_ctx $n_ctx)" >&2
"$target/release/examples/score_text" "$model" "$text" llama-perplexity "$n_ctx" "$threads"
echo "== crucible, every token once (sliding window $n_ctx, stride $((n_ctx / 2)))" >&2
"$target/release/examples/score_text" "$model" "$text" sliding "$n_ctx" "$((n_ctx / 2))" "$threads"
