#!/usr/bin/env bash
# The vote example's backend, built and started against a broker on this
# machine (start the broker first: tools/run.sh --static_dir=examples/vote/web).
#   bash examples/vote/run.sh [--target=localhost:50051] [--choices=red,green,blue]
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/setup.sh
bash tools/build.sh --target vote-backend
echo "vote: open http://localhost:8080/static/index.html in two windows and vote" >&2
exec build/vote-backend "$@"
