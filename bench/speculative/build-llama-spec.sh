#!/usr/bin/env bash
# Build llama.cpp's speculative-decoding drivers, `llama-lookup` (prompt lookup / n-gram drafts)
# and `llama-speculative` (a draft model), against the same llama.cpp library Crucible links, for
# side-by-side figures (docs/PERFORMANCE.md, "Speculative decoding").
#
# The crate llama-cpp-sys-2 vendors llama.cpp's library but not these examples (its
# examples/lookup and examples/speculative hold only a README); their sources come from the
# llama-cpp-python 0.3.36 source package on PyPI, fetched with pip, as the other bench scripts do.
# The library itself (ggml, llama, llama-common, built Release with GGML_NATIVE and OpenMP from
# the vendored sources) is the one bench/serving/build-llama-server.sh builds, which this script
# runs first if need be; the two drivers are then compiled against it in a few minutes. Nothing
# of llama.cpp is committed here.
#
# Usage: bench/speculative/build-llama-spec.sh [BUILD_DIR]   (default: $CRUCIBLE_HOME/cache/llama-spec)
# Prints the directory holding llama-lookup and llama-speculative.
set -euo pipefail
cd "$(dirname "$0")/../.."
home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
out=${1:-$home/cache/llama-spec}
driver_pkg="llama-cpp-python==0.3.36"
if [ -x "$out/llama-lookup" ] && [ -x "$out/llama-speculative" ]; then
  echo "$out"
  exit 0
fi
server=$(bench/serving/build-llama-server.sh)
lib=$(dirname "$(dirname "$(dirname "$server")")")   # .../cache/llama-server
src=$lib/src
build=$lib/build
for a in common/libllama-common.a common/libllama-common-base.a src/libllama.a ggml/src/libggml.a \
  ggml/src/libggml-cpu.a ggml/src/libggml-base.a vendor/cpp-httplib/libcpp-httplib.a; do
  if [ ! -f "$build/$a" ]; then
    echo "build-llama-spec: $build/$a is missing; remove $lib and run bench/serving/build-llama-server.sh again" >&2
    exit 1
  fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps --no-binary=llama-cpp-python -q -d "$tmp" "$driver_pkg" >&2
tar -xzf "$tmp"/llama_cpp_python-*.tar.gz -C "$tmp"
examples=$(ls -d "$tmp"/llama_cpp_python-*/vendor/llama.cpp/examples)
mkdir -p "$out"
for tool in lookup speculative; do
  echo "build-llama-spec: llama-$tool from $driver_pkg against $lib" >&2
  c++ -std=c++17 -O3 -DNDEBUG -DGGML_USE_CPU -I"$src/common" -I"$src/vendor" -I"$src/include" \
    -I"$src/ggml/include" "$examples/$tool/$tool.cpp" -o "$out/llama-$tool" \
    "$build/common/libllama-common.a" "$build/common/libllama-common-base.a" "$build/src/libllama.a" \
    "$build/ggml/src/libggml.a" "$build/ggml/src/libggml-cpu.a" "$build/ggml/src/libggml-base.a" \
    "$build/vendor/cpp-httplib/libcpp-httplib.a" -fopenmp -lpthread -lssl -lcrypto
done
echo "$out"
