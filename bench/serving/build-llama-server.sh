#!/usr/bin/env bash
# Build llama.cpp's `llama-server` against the llama.cpp sources vendored in the llama-cpp-sys-2
# crate that Crucible links, with the options the crate's build uses here (Release, GGML_NATIVE,
# OpenMP), so bench/serving/run.sh compares the two servers on the same library code.
#
# The crate vendors llama.cpp's library but not the server's sources (its tools/server holds
# only README, tests and bench); those come from the llama-cpp-python source package on PyPI,
# fetched with pip, as bench/inference/build-llama-bench.sh does for the benchmark drivers.
# Nothing of llama.cpp is committed here. The server's sources are of a newer llama.cpp than the
# vendored library; when they no longer compile against it, the build fails here (see
# docs/PERFORMANCE.md, "Serving").
#
# Usage: bench/serving/build-llama-server.sh [BUILD_DIR]   (default: $CRUCIBLE_HOME/cache/llama-server)
# Prints the path of llama-server.
set -euo pipefail
cd "$(dirname "$0")/../.."
home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
build=${1:-$home/cache/llama-server}
driver_pkg="llama-cpp-python==0.3.36"

if [ -x "$build/build/bin/llama-server" ]; then
  echo "$build/build/bin/llama-server"
  exit 0
fi
version=$(grep -A1 '^name = "llama-cpp-sys-2"' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/llama-cpp-sys-2-"$version"/llama.cpp 2>/dev/null | head -1)
if [ -z "$src" ] || [ ! -f "$src/CMakeLists.txt" ]; then
  echo "build-llama-server: llama.cpp sources of llama-cpp-sys-2 $version not found; run \`cargo fetch\` first" >&2
  exit 1
fi
mkdir -p "$build"
# A prepared source tree is kept, so an interrupted build resumes where it stopped (copying the
# sources again would give every file a new mtime and rebuild all of llama.cpp).
prepared="$build/src/.prepared-$version"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
server=$src/tools/server
origin="llama-cpp-sys-2 $version"
if [ -f "$prepared" ]; then
  origin=$(cat "$prepared")
elif [ ! -f "$server/server.cpp" ]; then
  python3 -m pip download --no-deps --no-binary=llama-cpp-python -q -d "$tmp" "$driver_pkg" >&2
  tar -xzf "$tmp"/llama_cpp_python-*.tar.gz -C "$tmp"
  server=$(ls -d "$tmp"/llama_cpp_python-*/vendor/llama.cpp/tools/server)
  origin=$driver_pkg
fi

if [ ! -f "$prepared" ]; then
  rm -rf "$build/src"
  cp -r "$src" "$build/src"
  chmod -R u+w "$build/src"
  # The server needs the multimodal library and the web UI target; the UI's sources and asset
  # script come with the server's. Without npm and without a download the UI target embeds an
  # empty asset table, so the build fetches nothing. The multimodal library is taken from the
  # same tree as the server (the server calls its API, which changed between the two trees;
  # llama.cpp's own library stays the crate's).
  mtmd=$src/tools/mtmd
  [ -d "$server/../mtmd" ] && mtmd=$server/../mtmd
  cp -r "$mtmd" "$tmp/mtmd"
  rm -rf "$build/src/tools"
  mkdir -p "$build/src/tools"
  mv "$tmp/mtmd" "$build/src/tools/mtmd"
  cp -r "$server" "$build/src/tools/server"
  # One helper of the newer `common` the server's sources call: on Linux it is a plain
  # std::ifstream (it exists for wide-character paths on Windows).
  if ! grep -q fs_open_ifstream "$build/src/common/common.h"; then
    { grep -rl fs_open_ifstream "$build/src/tools/server" || true; } | while read -r file; do
      sed -i 's/fs_open_ifstream(\([^,]*\), std::ios::in)/std::ifstream(\1, std::ios::in)/' "$file"
    done
  fi
  cp -r "$server/../ui" "$build/src/tools/ui" 2>/dev/null || true
  if [ -f "$server/../../scripts/ui-assets.cmake" ] && [ ! -f "$build/src/scripts/ui-assets.cmake" ]; then
    mkdir -p "$build/src/scripts"
    cp "$server/../../scripts/ui-assets.cmake" "$build/src/scripts/"
  fi
  printf 'add_subdirectory(mtmd)\nadd_subdirectory(ui)\nadd_subdirectory(server)\n' > "$build/src/tools/CMakeLists.txt"
  echo "$origin" > "$prepared"
fi

echo "build-llama-server: llama.cpp of llama-cpp-sys-2 $version with the server of $origin" >&2
cmake -S "$build/src" -B "$build/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_OPENMP=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
  -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$build/build" --target llama-server -j "$(nproc)" >&2
echo "$build/build/bin/llama-server"
