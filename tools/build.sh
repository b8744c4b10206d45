#!/usr/bin/env bash
# Configures and builds push-broker into build/ (ccache and Ninja when present).
# Usage: tools/build.sh [cmake --build arguments, e.g. --target push-broker]
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build build -j "$(nproc)" "$@"
