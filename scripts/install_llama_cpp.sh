#!/usr/bin/env bash
# Install llama-cpp-python into the venv, built from source with safe CPU flags.
#
# Usage: scripts/install_llama_cpp.sh VENV_PYTHON VERSION "CMAKE_ARGS"
#
# The built wheel is cached under $RAGTUNE_WHEEL_CACHE (default ~/.cache/ragtune/wheels)
# in a folder named after the version, the flags and the Python version, so a re-run
# (or a fresh clone on the same machine) installs in seconds, and changing the flags
# builds a new wheel instead of silently reusing one built with other flags.
set -euo pipefail
py="$1"; version="$2"; cmake_args="$3"
cache="${RAGTUNE_WHEEL_CACHE:-$HOME/.cache/ragtune/wheels}"
pyver="$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
key="$(printf '%s|%s|%s' "$version" "$cmake_args" "$pyver" | sha256sum | cut -c1-16)"
marker="$(dirname "$py")/../.llama-cpp-build"

if [ -f "$marker" ] && [ "$(cat "$marker")" = "$key" ] \
    && "$py" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$version')" 2>/dev/null; then
    echo "llama-cpp-python $version already installed (flags: $cmake_args)"
    exit 0
fi

wheel_dir="$cache/$key"
if ! ls "$wheel_dir"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
    echo "Building llama-cpp-python $version from source (about 3-6 minutes on 2 cores)"
    echo "  CMAKE_ARGS=$cmake_args"
    tmp="$(mktemp -d)"
    if ! CMAKE_ARGS="$cmake_args" "$py" -m pip wheel --no-deps --no-cache-dir \
            --no-binary llama-cpp-python "llama-cpp-python==$version" -w "$tmp" >"$tmp/build.log" 2>&1; then
        tail -n 40 "$tmp/build.log" >&2
        echo >&2
        echo "error: building llama-cpp-python failed (full log: $tmp/build.log)." >&2
        echo "  It needs a C/C++ compiler and cmake: apt-get install build-essential cmake" >&2
        echo "  If the CPU flags are the problem, override them, e.g.:" >&2
        echo "    make run LLAMA_CMAKE_ARGS=\"-DGGML_NATIVE=OFF\"" >&2
        exit 1
    fi
    mkdir -p "$wheel_dir"
    mv "$tmp"/llama_cpp_python-*.whl "$wheel_dir"/
    rm -rf "$tmp"
fi
"$py" -m pip install --quiet --force-reinstall --no-deps "$wheel_dir"/llama_cpp_python-"$version"-*.whl
echo "$key" >"$marker"
echo "llama-cpp-python $version installed (flags: $cmake_args)"
