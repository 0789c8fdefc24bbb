#!/bin/sh
# Print safe CMAKE_ARGS for building llama-cpp-python on this CPU.
#
# Why not the default build: GGML_NATIVE turns on every kernel the build host
# supports, including the AMX one, which segfaults on Sapphire Rapids on the
# first quantized matmul (ggml-org/llama.cpp#20824). We switch NATIVE off and
# switch on only the SIMD extensions /proc/cpuinfo reports, so the wheel never
# contains an instruction this CPU lacks and never the AMX kernel.
set -eu
flags=""
if [ -r /proc/cpuinfo ]; then
    flags=$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo | cut -d: -f2)
fi
has() { echo " $flags " | grep -q " $1 "; }
args="-DGGML_NATIVE=OFF"
case "$(uname -m)" in
    x86_64|amd64)
        has avx && args="$args -DGGML_AVX=ON"
        has avx2 && args="$args -DGGML_AVX2=ON"
        has fma && args="$args -DGGML_FMA=ON"
        has f16c && args="$args -DGGML_F16C=ON"
        has avx_vnni && args="$args -DGGML_AVX_VNNI=ON"
        if has avx512f && has avx512bw && has avx512vl && has avx512dq; then
            args="$args -DGGML_AVX512=ON"
            has avx512_vnni && args="$args -DGGML_AVX512_VNNI=ON"
            has avx512_bf16 && args="$args -DGGML_AVX512_BF16=ON"
        fi
        ;;
esac
echo "$args"
