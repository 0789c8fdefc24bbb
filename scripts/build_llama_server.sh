#!/usr/bin/env bash
# Build llama.cpp's llama-server from the llama.cpp vendored in the pinned llama-cpp-python sdist:
# the same engine version as the in-process runtime, with the same CPU flags as its wheel.
#
# Usage: scripts/build_llama_server.sh VENV_PYTHON VERSION "CMAKE_ARGS"
#        scripts/build_llama_server.sh --path VERSION "CMAKE_ARGS"   (print where the binary goes)
#
# The binary and the shared libraries it loads (build/bin/*.so*) are cached under
# $RAGTUNE_SERVER_CACHE (default ~/.cache/ragtune/llama-server) in a folder named after the
# version and the flags, so a re-run or a fresh clone on the same machine is instant, and other
# flags build another copy instead of silently reusing this one. The build needs no network
# beyond PyPI for the sdist: the web UI is left out (LLAMA_BUILD_UI=OFF), and so is OpenSSL
# (a server behind ragtune speaks plain HTTP on a private network, or sits behind a TLS proxy).
set -euo pipefail

# Besides the CPU flags: only the server, no tests or examples, no UI download, no TLS; the
# binary finds its libraries next to itself ($ORIGIN), so the cached folder can live anywhere.
SERVER_ARGS="-DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DCMAKE_BUILD_TYPE=Release \
-DCMAKE_BUILD_RPATH=\$ORIGIN -DGGML_CCACHE=OFF"

cache_dir() {  # VERSION CMAKE_ARGS -> the cache folder of this build
    local key
    key="$(printf '%s|%s|%s' "$1" "$2" "$SERVER_ARGS" | sha256sum | cut -c1-16)"
    echo "${RAGTUNE_SERVER_CACHE:-$HOME/.cache/ragtune/llama-server}/$key"
}

if [ "${1:-}" = "--path" ]; then
    [ $# -eq 3 ] || { echo "usage: $0 --path VERSION CMAKE_ARGS" >&2; exit 2; }
    echo "$(cache_dir "$2" "$3")/llama-server"
    exit 0
fi
[ $# -eq 3 ] || { echo "usage: $0 VENV_PYTHON VERSION CMAKE_ARGS" >&2; exit 2; }
py="$1"; version="$2"; cmake_args="$3"
target="$(cache_dir "$version" "$cmake_args")"

if [ -x "$target/llama-server" ] && "$target/llama-server" --version >/dev/null 2>&1; then
    echo "llama-server from llama-cpp-python $version already built ($target)"
    exit 0
fi
for tool in cmake c++ make; do
    command -v "$tool" >/dev/null || {
        echo "error: building llama-server needs $tool: apt-get install build-essential cmake" >&2; exit 1; }
done

jobs="$(nproc 2>/dev/null || echo 2)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "Building llama-server from llama-cpp-python $version (about 5 minutes on 2 quiet cores, more on busy ones)"
echo "  CMAKE_ARGS=$cmake_args"
echo "  [1/4] fetching the sdist"
if ! "$py" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$tmp" \
        >"$tmp/download.log" 2>&1; then
    tail -n 20 "$tmp/download.log" >&2
    echo "error: could not download the llama-cpp-python $version sdist; check access to the package index." >&2
    exit 1
fi
echo "  [2/4] unpacking"
tar -xzf "$tmp"/llama_cpp_python-"$version".tar.gz -C "$tmp"
src="$tmp/llama_cpp_python-$version/vendor/llama.cpp"
[ -f "$src/tools/server/CMakeLists.txt" ] || {
    echo "error: the sdist of llama-cpp-python $version vendors no llama.cpp server (tools/server)." >&2; exit 1; }
echo "  [3/4] configuring"
# shellcheck disable=SC2086  # the flags are a list of words
if ! cmake -S "$src" -B "$src/build" $cmake_args $SERVER_ARGS >"$tmp/configure.log" 2>&1; then
    tail -n 40 "$tmp/configure.log" >&2
    echo "error: configuring llama-server failed (see above). If the CPU flags are the problem, override them:" >&2
    echo "    make llama-server LLAMA_CMAKE_ARGS=\"-DGGML_NATIVE=OFF\"" >&2
    exit 1
fi
echo "  [4/4] compiling with $jobs jobs"
# The compiler's output goes to a log; its progress is printed every 30 s.
( while sleep 30; do
      done_so_far="$(grep -oE '^\[ *[0-9]+%\]' "$tmp/build.log" 2>/dev/null | tail -n 1 || true)"
      [ -n "$done_so_far" ] && echo "        $done_so_far"
  done ) &
reporter=$!
status=0
cmake --build "$src/build" --target llama-server -j"$jobs" >"$tmp/build.log" 2>&1 || status=$?
kill "$reporter" 2>/dev/null || true
wait "$reporter" 2>/dev/null || true
if [ "$status" != 0 ] || [ ! -x "$src/build/bin/llama-server" ]; then
    tail -n 40 "$tmp/build.log" >&2
    echo "error: compiling llama-server failed (see above). It needs a C++17 compiler and cmake >= 3.14." >&2
    exit 1
fi
# Into place atomically: a half-copied folder is never taken for a finished build.
staging="$target.tmp$$"
mkdir -p "$staging"
cp -a "$src/build/bin/llama-server" "$src/build/bin/"*.so* "$staging"/
if ! "$staging/llama-server" --version >/dev/null 2>&1; then
    "$staging/llama-server" --version >&2 || true
    rm -rf "$staging"
    echo "error: the built llama-server does not start (see above)." >&2
    exit 1
fi
rm -rf "$target"
mv "$staging" "$target"
echo "llama-server built: $target/llama-server"
