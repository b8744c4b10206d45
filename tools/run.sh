#!/usr/bin/env bash
# One command to try push-broker: installs what is missing, builds, and starts
# the broker on its embedded in-memory store. Extra arguments are broker flags.
#   tools/run.sh                      # gRPC :50051, SSE :8080, admin :9090
#   tools/run.sh --http_port=8000 --cors_origins='*'
# Several replicas on a local Redis (started here, on port $REDIS_PORT,
# default 6390, data in a temporary directory, stopped on exit):
#   tools/run.sh --store=redis --replicas=3
#   # replica i (from 0): gRPC :5005(1+i), SSE and demo page :808(0+i), admin :909(0+i)
set -euo pipefail
cd "$(dirname "$0")/.."

replicas=1
store=memory
flags=()
for arg in "$@"; do
  case "$arg" in
    --replicas=*) replicas="${arg#--replicas=}" ;;
    --store=*) store="${arg#--store=}"; flags+=("$arg") ;;
    *) flags+=("$arg") ;;
  esac
done
if ! [[ "$replicas" =~ ^[1-9][0-9]?$ ]]; then
  echo "run.sh: --replicas must be 1 to 99" >&2
  exit 2
fi
if [[ "$replicas" -gt 1 && "$store" != redis ]]; then
  echo "run.sh: several replicas need a shared store: add --store=redis" >&2
  exit 2
fi

if [[ "$store" == redis ]]; then bash tools/setup.sh --redis; else bash tools/setup.sh; fi
bash tools/build.sh --target push-broker pushctl
if [[ "$store" != redis ]]; then
  exec build/push-broker "${flags[@]}"
fi

redis_port="${REDIS_PORT:-6390}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Redis as the design expects it: never evict, append-only file.
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --save '' \
  --appendonly yes --maxmemory-policy noeviction \
  --client-output-buffer-limit "pubsub 256mb 64mb 60" > "$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  redis-cli -p "$redis_port" ping > /dev/null 2>&1 && break
  sleep 0.1
done
echo "run.sh: redis-server on 127.0.0.1:$redis_port (data in $work)" >&2

for ((i = 0; i < replicas; i++)); do
  build/push-broker --store=redis --redis_addrs="127.0.0.1:$redis_port" \
    --replica_id="replica-$i" --grpc_port=$((50051 + i)) --http_port=$((8080 + i)) \
    --admin_port=$((9090 + i)) "${flags[@]}" &
  pids+=($!)
  echo "run.sh: replica-$i: gRPC :$((50051 + i)), SSE and demo page http://127.0.0.1:$((8080 + i))/" >&2
done
# Runs until Ctrl-C or until any process exits; then stops them all.
wait -n
