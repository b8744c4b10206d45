#!/usr/bin/env bash
# Builds everything with clang, AddressSanitizer + UndefinedBehaviorSanitizer
# and -Werror=thread-safety (into build-asan), and runs the whole GoogleTest
# suite under them. Two checks in one build: any lock annotation the code
# breaks (ABSL_GUARDED_BY and friends, which g++ ignores) fails the compile;
# any leak, overflow, use-after-free or undefined behaviour fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! grep -q "CMAKE_CXX_COMPILER:.*clang" build-asan/CMakeCache.txt 2>/dev/null; then
  rm -rf build-asan
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
        -DPUSH_BROKER_BUILD_BENCH=OFF \
        -DCMAKE_CXX_FLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
        -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
        -DCMAKE_CXX_COMPILER_LAUNCHER="$(command -v ccache || true)" > /dev/null
fi
cmake --build build-asan -j "$(nproc)"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# The binaries the tests start (pushctl, push-broker) are the sanitized ones.
ctest --test-dir build-asan --output-on-failure -j "$(nproc)" --timeout 300 -LE "browser|k8s"
