#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time,
# starting from the seed corpora in fuzz/corpus (new inputs go to a scratch
# copy, not the repository). Usage: tools/fuzz.sh [seconds per target, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_COMPILER_LAUNCHER="$(command -v ccache || true)" > /dev/null
fi
cmake --build build-fuzz -j "$(nproc)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
for target in message_id replay client_token sse_roundtrip validation; do
  mkdir -p "$scratch/$target"
  cp fuzz/corpus/$target/* "$scratch/$target/"
  if build-fuzz/${target}_fuzz "$scratch/$target" -max_total_time="$seconds" -max_len=4096 \
       -artifact_prefix="$scratch/$target-" > "$scratch/$target.log" 2>&1; then
    runs=$(grep -o 'Done [0-9]* runs' "$scratch/$target.log" | grep -o '[0-9]*' || echo "?")
    echo "fuzz: $target: $runs runs in ${seconds}s, no failure"
  else
    echo "fuzz: $target FAILED:"
    tail -40 "$scratch/$target.log"
    cp "$scratch"/$target-* fuzz/ 2>/dev/null || true
    failed=1
  fi
done
exit $failed
