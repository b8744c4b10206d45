#!/usr/bin/env bash
# Runs every benchmark scenario, each against a freshly started broker on
# 127.0.0.1, and prints a table of what was measured. Bounded: each scenario
# has a fixed count and duration; the soak runs $PUSH_BROKER_SOAK (10m; 0
# skips it). Usage: bench/run.sh [scenario ...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh > /dev/null
ulimit -n "$(ulimit -Hn)"
soak="${PUSH_BROKER_SOAK:-10m}"
http_port=18080; grpc_port=15051; admin_port=19090
results=$(mktemp)
label=  # prefixed to the scenario names of what follows (the cluster's runs)
trap 'rm -f "$results"; [ -n "${broker:-}" ] && kill "$broker" 2>/dev/null; [ -n "${redis:-}" ] && kill "$redis" 2>/dev/null; [ ${#cluster_pids[@]} -gt 0 ] && kill "${cluster_pids[@]}" 2>/dev/null; for p in "${replica_pids[@]}"; do [ "$p" != 0 ] && kill "$p" 2>/dev/null; done; true' EXIT

# PUSH_BROKER_BIN runs another build of the broker (a baseline) under the
# same load tool.
start_broker() {
  "${PUSH_BROKER_BIN:-build/push-broker}" --bind_address=127.0.0.1 --http_port=$http_port --grpc_port=$grpc_port \
    --admin_port=$admin_port --log_level=warn --max_connections=20000 --max_publish_targets=20000 \
    "$@" 2> /tmp/push-broker-bench.log &
  broker=$!
  for _ in $(seq 100); do
    (exec 3<> "/dev/tcp/127.0.0.1/$http_port") 2> /dev/null && return 0
    sleep 0.1
  done
  echo "the broker did not start; see /tmp/push-broker-bench.log" >&2
  exit 1
}
stop_broker() { kill "$broker"; wait "$broker" 2>/dev/null || true; broker=; }

bench() {  # bench PB-BENCH-ARGS... [-- BROKER-FLAGS...]: one scenario against a fresh broker
  local args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  start_broker "$@"
  build/bench/pb-bench --http_port=$http_port --grpc_target=127.0.0.1:$grpc_port \
    --admin_port=$admin_port --broker_pid="$broker" "${args[@]}" |
    sed "s/^RESULT scenario=/RESULT scenario=$label/" | tee -a "$results" | grep -v '^RESULT' || true
  stop_broker
}

# The Redis scenarios' own redis-server, as the design expects it (noeviction,
# a pub/sub buffer large enough for broadcast bursts), on a free port.
redis_port=16390
start_redis() {
  redis_dir=$(mktemp -d)
  redis-server --port $redis_port --bind 127.0.0.1 --dir "$redis_dir" --save '' --appendonly no \
    --maxmemory-policy noeviction --client-output-buffer-limit "pubsub 256mb 64mb 60" \
    > "$redis_dir/log" 2>&1 &
  redis=$!
  for _ in $(seq 50); do redis-cli -p $redis_port ping > /dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis-server did not start; see $redis_dir/log" >&2
  exit 1
}
stop_redis() { kill "$redis"; wait "$redis" 2>/dev/null || true; rm -rf "$redis_dir"; redis=; }
flush_redis() { redis-cli -p $redis_port flushall > /dev/null; }
on_redis=(--store=redis --redis_addrs=127.0.0.1:$redis_port)

# Redis memory per idle mailbox holding one 100-byte message: used_memory
# before and after 100,000 such mailboxes (list publishes of 20,000).
redis_memory() {
  start_broker "${on_redis[@]}"
  local before after
  redis-cli -p $redis_port flushall > /dev/null
  before=$(redis-cli -p $redis_port info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
  for batch in 0 1 2 3 4; do
    python3 -c "import json,sys; print(json.dumps({'clients': {'ids': ['idle-%d-%d' % ($batch, i) for i in range(20000)]}, 'data': 'x' * 100}))" |
      build/pushctl --target=127.0.0.1:$grpc_port publish --json - > /dev/null
  done
  after=$(redis-cli -p $redis_port info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
  stop_broker
  echo "RESULT scenario=redis_memory mailboxes=100000 bytes_per_mailbox=$(( (after - before) / 100000 ))" |
    tee -a "$results"
}

# A replay served by replica B of 1,000 messages published through replica A.
redis_replay() {
  build/push-broker --bind_address=127.0.0.1 --http_port=$((http_port + 1)) \
    --grpc_port=$((grpc_port + 1)) --admin_port=$((admin_port + 1)) --log_level=warn \
    "${on_redis[@]}" --replica_id=bench-a 2> /tmp/push-broker-bench-a.log &
  local replica_a=$!
  sleep 1
  start_broker "${on_redis[@]}" --replica_id=bench-b
  build/bench/pb-bench --http_port=$http_port --grpc_target=127.0.0.1:$((grpc_port + 1)) \
    --admin_port=$admin_port --broker_pid="$broker" --scenario=replay --missed=1000 |
    sed "s/scenario=replay/scenario=${label}redis_replay_via_other_replica/" | tee -a "$results" | grep -v '^RESULT' || true
  stop_broker
  kill "$replica_a"; wait "$replica_a" 2>/dev/null || true
}

# A 3-master Redis Cluster with a replica each (ports 16391-16396), as
# docs/operations.md asks, ready once every replica has synced.
cluster_ports=(16391 16392 16393 16394 16395 16396)
cluster_pids=()
start_cluster() {
  cluster_dir=$(mktemp -d)
  for port in "${cluster_ports[@]}"; do
    mkdir -p "$cluster_dir/$port"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$cluster_dir/$port" --save '' \
      --appendonly no --cluster-enabled yes --cluster-node-timeout 5000 \
      --cluster-require-full-coverage no --repl-diskless-sync-delay 0 \
      --maxmemory-policy noeviction --client-output-buffer-limit pubsub 256mb 64mb 60 \
      > "$cluster_dir/$port/log" 2>&1 &
    cluster_pids+=($!)
  done
  for port in "${cluster_ports[@]}"; do
    for _ in $(seq 50); do redis-cli -p "$port" ping > /dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cluster_ports[@]}") \
    --cluster-replicas 1 --cluster-yes > "$cluster_dir/create.log" 2>&1
  for _ in $(seq 300); do
    local ready=1
    for port in "${cluster_ports[@]}"; do
      redis-cli -p "$port" cluster info | grep -q 'cluster_state:ok' || ready=0
      redis-cli -p "$port" info replication | grep -q 'master_sync_in_progress:1' && ready=0
      redis-cli -p "$port" info replication | grep -q 'master_link_status:down' && ready=0
    done
    [ $ready = 1 ] && return 0
    sleep 0.1
  done
  echo "the cluster did not become healthy; see $cluster_dir" >&2
  exit 1
}
stop_cluster() {
  kill "${cluster_pids[@]}" 2>/dev/null || true
  wait "${cluster_pids[@]}" 2>/dev/null || true
  rm -rf "$cluster_dir"
  cluster_pids=()
}
flush_cluster() {
  for port in "${cluster_ports[@]:0:3}"; do redis-cli -p "$port" flushall > /dev/null; done
}

# Three replicas on the local Redis: replica i on HTTP $http_port+i, gRPC
# $grpc_port+i, admin $admin_port+i.
replica_pids=(0 0 0)
start_replica() {  # start_replica I: (re)starts replica I under a new --replica_id
  local i=$1
  build/push-broker --bind_address=127.0.0.1 --http_port=$((http_port + i)) \
    --grpc_port=$((grpc_port + i)) --admin_port=$((admin_port + i)) --log_level=warn \
    --max_connections=20000 --store=redis --redis_addrs=127.0.0.1:$redis_port \
    --replica_id="bench-$i-$RANDOM" 2>> "/tmp/push-broker-bench-$i.log" &
  replica_pids[$i]=$!
  for _ in $(seq 100); do
    (exec 3<> "/dev/tcp/127.0.0.1/$((http_port + i))") 2> /dev/null && return 0
    sleep 0.1
  done
  echo "replica $i did not start; see /tmp/push-broker-bench-$i.log" >&2
  exit 1
}
stop_replica() {  # SIGTERM: the drain a rolling update does
  kill "${replica_pids[$1]}" 2>/dev/null || true
  wait "${replica_pids[$1]}" 2>/dev/null || true
  replica_pids[$1]=0
}
replica_ports() { echo "$((http_port)),$((http_port + 1)),$((http_port + 2))"; }
replica_targets() {
  echo "127.0.0.1:$grpc_port,127.0.0.1:$((grpc_port + 1)),127.0.0.1:$((grpc_port + 2))"
}

# Publishing, unicast, a broadcast to 10,000 streams five times a second and
# a replay across replicas on --store=redis ("${on_redis[@]}"); `$1` empties
# the Redis deployment between scenarios.
redis_load() {
  bench --scenario=publish --mode=unary --duration=5s --in_flight=256 -- "${on_redis[@]}"
  "$1"
  bench --scenario=unicast --streams=1000 --duration=10s --publish_streams=4 -- "${on_redis[@]}"
  "$1"
  bench --scenario=fanout --streams=10000 --interval=200ms --duration=20s -- "${on_redis[@]}"
  "$1"
  redis_replay
}

want() { [ $# -eq 0 ] || [[ " $* " == *" $scenario "* ]]; }
selected=("$@")
for scenario in hold fanout unicast publish replay storm soak evict history memory watch redis \
  redis-cluster redis-roll redis-reach; do
  want "${selected[@]}" || continue
  echo "== $scenario" >&2
  case $scenario in
    hold) for n in 1000 10000 19000; do bench --scenario=hold --streams=$n --settle=12s; done ;;
    fanout) bench --scenario=fanout --streams=10000 --interval=200ms --duration=20s ;;
    unicast)
      bench --scenario=unicast --streams=1000 --duration=10s --publish_streams=4
      bench --scenario=unicast --streams=1000 --duration=10s --publish_streams=4 --mode=batch \
        --batch_size=100 ;;
    # Unary calls (256 in flight), PublishStream (4 streams of 256 unanswered
    # each) and PublishBatch of 100 (4 calls in flight), to 1,000 mailboxes.
    publish)
      bench --scenario=publish --mode=unary --duration=5s --in_flight=256
      bench --scenario=publish --mode=stream --duration=5s --publish_streams=4
      bench --scenario=publish --mode=batch --duration=5s --publish_streams=4 --batch_size=100 ;;
    replay) bench --scenario=replay --missed=1000 ;;
    storm) bench --scenario=storm --streams=10000 --missed=10 --retry_ms=2000 ;;
    # A million mailboxes, then broadcasts past a 256 MiB budget, with a probe.
    evict) bench --scenario=evict --mailboxes=1000000 --broadcasts=5 -- \
             --mailbox_memory_budget_bytes=268435456 --max_mailboxes=2000000 ;;
    history) bench --scenario=history --duration=10s --history_rate=90 ;;
    # The way back: a group of 3 watchers sharing 200,000 delivery events
    # (2,000 mailboxes of 100 messages, each read by one long poll); Publish
    # waiting for RECEIPT_DELIVERED against a plain one; and the fan-out
    # above with no watcher and with a watcher of every delivery.
    watch)
      bench --scenario=watch_group --clients=2000 --missed=100 -- --events_retention=1000000
      bench --scenario=fanout --streams=10000 --interval=200ms --duration=20s
      bench --scenario=wait_latency --samples=2000
      bench --scenario=fanout --streams=10000 --interval=200ms --duration=20s \
        --watch_kinds=delivered ;;
    # Peak RSS against the budget: defaults filled with 1 KB messages, a 256 MiB
    # budget filled with 60 KB ones, and 1,000 streams that stop reading.
    memory)
      bench --scenario=memory --messages=1500000 --message_bytes=1000 --clients=100000
      bench --scenario=memory --messages=20000 --message_bytes=60000 --clients=1000 \
        --budget_bytes=268435456 -- --mailbox_memory_budget_bytes=268435456
      bench --scenario=memory --stuck_streams=1000 --message_bytes=60000 --budget_bytes=1073741824 ;;
    # Retention fills within the first two minutes (100 messages a mailbox at
    # one broadcast a second), so the second half shows growth it cannot explain.
    # The same load on the Redis store (one local redis-server): publishing,
    # unicast, a broadcast to 10,000 streams five times a second, a replay
    # across replicas, Redis memory per mailbox. Only when asked by name.
    redis)
      [ ${#selected[@]} -gt 0 ] || continue
      # Each scenario starts on an empty Redis, as the others on a fresh broker.
      start_redis
      redis_load flush_redis
      redis_memory
      stop_redis ;;
    # The same on the 3-master cluster (one node's slots per master); only by name.
    redis-cluster)
      [ ${#selected[@]} -gt 0 ] || continue
      start_cluster
      saved_on_redis=("${on_redis[@]}")
      on_redis=(--store=redis "--redis_addrs=127.0.0.1:${cluster_ports[0]},127.0.0.1:${cluster_ports[1]}")
      label=cluster_
      redis_load flush_cluster
      label=
      on_redis=("${saved_on_redis[@]}")
      stop_cluster ;;
    # A rolling restart of three replicas (SIGTERM, then a new process under a
    # new id) while 3,000 streams spread over them and 500 publishes/s go on.
    redis-roll)
      [ ${#selected[@]} -gt 0 ] || continue
      start_redis
      for i in 0 1 2; do start_replica $i; done
      build/bench/pb-bench --scenario=roll --streams=3000 --rate=500 --duration=60s \
        --http_ports="$(replica_ports)" --grpc_targets="$(replica_targets)" |
        tee -a "$results" | grep -v '^RESULT' &
      roll_bench=$!
      sleep 15
      for i in 0 1 2; do stop_replica $i; start_replica $i; sleep 12; done
      wait $roll_bench || true
      for i in 0 1 2; do stop_replica $i; done
      stop_redis ;;
    # 45,000 streams over three replicas (15,000 each, a load process each:
    # 20,000 files a process), then one broadcast that must reach them all.
    redis-reach)
      [ ${#selected[@]} -gt 0 ] || continue
      start_redis
      for i in 0 1 2; do start_replica $i; done
      reach_dir=$(mktemp -d)
      reach_pids=()
      for i in 0 1 2; do
        build/bench/pb-bench --scenario=reach --streams=15000 --client_offset=$((i * 15000)) \
          --http_port=$((http_port + i)) --duration=120s --ready_file="$reach_dir/ready-$i" \
          > "$reach_dir/out-$i" &
        reach_pids+=($!)
      done
      for _ in $(seq 1800); do
        [ -e "$reach_dir/ready-0" ] && [ -e "$reach_dir/ready-1" ] && [ -e "$reach_dir/ready-2" ] && break
        sleep 0.1
      done
      build/bench/pb-bench --scenario=broadcast_once --grpc_target=127.0.0.1:$grpc_port |
        tee -a "$results" | grep -v '^RESULT' || true
      wait "${reach_pids[@]}" || true
      cat "$reach_dir"/out-* | tee -a "$results" | grep -v '^RESULT' || true
      rm -rf "$reach_dir"
      for i in 0 1 2; do stop_replica $i; done
      stop_redis ;;
    soak) [ "$soak" = 0 ] || bench --scenario=soak --streams=5000 --duration="$soak" --interval=1s \
            --churn_per_s=50 -- --mailbox_max_messages=100 ;;
  esac
done

echo
echo "| scenario | measured |"
echo "| --- | --- |"
sed -n 's/^RESULT scenario=\([^ ]*\) \(.*\)$/| \1 | \2 |/p' "$results"
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
