#!/usr/bin/env bash
# Build llama.cpp's own benchmark drivers, `llama-bench` (one sequence: prompt and decode speed)
# and `llama-batched-bench` (many sequences decoded together after a shared prompt), against the
# llama.cpp sources vendored in the llama-cpp-sys-2 crate that Crucible links, with the options the
# crate's build uses here (Release, GGML_NATIVE for the host CPU, OpenMP), so
# bench/inference/compare.sh compares like for like: the same llama.cpp library code, its own
# benchmark drivers.
#
# The drivers come from the crate's `tools/` directory when it ships them; older versions of the
# crate shipped only the library, and then the drivers are taken from the llama-cpp-python source
# package on PyPI, fetched with pip.
#
# Usage: bench/inference/build-llama-bench.sh [BUILD_DIR]   (default: $CRUCIBLE_HOME/cache/llama-bench)
# Prints the path of llama-bench; llama-batched-bench is in the same directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
build=${1:-$home/cache/llama-bench}
driver_pkg="llama-cpp-python==0.3.36"
tools="llama-bench batched-bench"

if [ -x "$build/build/bin/llama-bench" ] && [ -x "$build/build/bin/llama-batched-bench" ]; then
  echo "$build/build/bin/llama-bench"
  exit 0
fi
version=$(grep -A1 '^name = "llama-cpp-sys-2"' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/llama-cpp-sys-2-"$version"/llama.cpp 2>/dev/null | head -1)
if [ -z "$src" ] || [ ! -f "$src/CMakeLists.txt" ]; then
  echo "build-llama-bench: llama.cpp sources of llama-cpp-sys-2 $version not found; run \`cargo fetch\` first" >&2
  exit 1
fi
mkdir -p "$build"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
drivers=$src/tools
origin="llama-cpp-sys-2 $version"
for tool in $tools; do
  if [ ! -f "$drivers/$tool/CMakeLists.txt" ]; then
    python3 -m pip download --no-deps --no-binary=llama-cpp-python -q -d "$tmp" "$driver_pkg" >&2
    tar -xzf "$tmp"/llama_cpp_python-*.tar.gz -C "$tmp"
    drivers=$(ls -d "$tmp"/llama_cpp_python-*/vendor/llama.cpp/tools)
    origin=$driver_pkg
    break
  fi
done

rm -rf "$build/src"
cp -r "$src" "$build/src"
chmod -R u+w "$build/src"
rm -rf "$build/src/tools"
mkdir -p "$build/src/tools"
for tool in $tools; do
  cp -r "$drivers/$tool" "$build/src/tools/$tool"
  echo "add_subdirectory($tool)" >> "$build/src/tools/CMakeLists.txt"
done

echo "build-llama-bench: llama.cpp of llama-cpp-sys-2 $version with the drivers of $origin" >&2
cmake -S "$build/src" -B "$build/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_OPENMP=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=ON \
  -DLLAMA_BUILD_APP=OFF -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$build/build" --target llama-bench llama-batched-bench -j "$(nproc)" >&2
echo "$build/build/bin/llama-bench"
