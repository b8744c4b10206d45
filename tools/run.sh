#!/usr/bin/env bash
# One command to try push-broker: installs what is missing, builds, and starts
# the broker on its embedded in-memory store. Extra arguments are broker flags.
#   tools/run.sh                      # gRPC :50051, SSE :8080, admin :9090
#   tools/run.sh --http_port=8000 --cors_origins='*'
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh --target push-broker pushctl
exec build/push-broker "$@"
