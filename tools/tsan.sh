#!/usr/bin/env bash
# Builds the core and the edge's threads, gate and SSE loop with
# ThreadSanitizer (clang, into build-tsan) and runs their unit tests: any
# data race or lock misuse fails the run. What is covered, and why not the
# rest, is in tests/tsan/CMakeLists.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-tsan/CMakeCache.txt ]; then
  cmake -S tests/tsan -B build-tsan -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_CXX_COMPILER_LAUNCHER="$(command -v ccache || true)" > /dev/null
fi
cmake --build build-tsan -j "$(nproc)"
# halt_on_error: the first report fails the run; second_deadlock_stack for
# readable lock-order reports.
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" build-tsan/push_broker_tsan_tests --gtest_brief=1
