#!/usr/bin/env bash
# clang-format (Google style, 100 columns: .clang-format) over every C++ file
# the project tracks.
#   tools/format.sh           rewrites the files in place
#   tools/format.sh --check   changes nothing; lists the files that differ and fails
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.cc' '*.h' | grep -v '/node_modules/')
if [ "${1:-}" = "--check" ]; then
  unformatted=()
  for f in "${files[@]}"; do
    if ! clang-format --style=file "$f" | cmp -s - "$f"; then unformatted+=("$f"); fi
  done
  if [ "${#unformatted[@]}" -gt 0 ]; then
    echo "format: not clang-formatted (run tools/format.sh): ${unformatted[*]}" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files clang-formatted"
else
  clang-format --style=file -i "${files[@]}"
fi
