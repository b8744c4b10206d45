#!/usr/bin/env bash
# One command to check push-broker: installs what is missing, builds
# everything, and runs the whole test suite (CTest + GoogleTest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --test
# Every C++ file as clang-format writes it (.clang-format: Google, 100 columns).
bash tools/format.sh --check
bash tools/build.sh
# Every fuzz target for a bounded time (PUSH_BROKER_FUZZ_SECONDS each), the
# sanitized suite, then the suite, whose summary stays the last thing printed.
bash tools/fuzz.sh "${PUSH_BROKER_FUZZ_SECONDS:-20}"
# Everything again with clang: -Werror=thread-safety checks every lock
# annotation, and the GoogleTest suite runs under AddressSanitizer + UBSan.
bash tools/sanitize.sh
# The core, the request threads and the accept loop under ThreadSanitizer.
bash tools/tsan.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 300
