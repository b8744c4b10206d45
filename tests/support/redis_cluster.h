// RedisCluster: a real Redis Cluster for one test: six redis-server
// processes on free ports of 127.0.0.1 (never 6379), three masters with a
// replica each, made by `redis-cli --cluster create`, with the settings
// docs/operations.md asks of production (node timeout 2 s here, partial
// coverage allowed) and ready only once every node says cluster_state:ok
// and every replica has finished its first sync (a fault before that
// leaves a replica that will not fail over). Stopped by PID. Not
// thread-safe.
#ifndef PUSH_BROKER_TESTS_SUPPORT_REDIS_CLUSTER_H_
#define PUSH_BROKER_TESTS_SUPPORT_REDIS_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "redis/resp.h"
#include "tests/support/redis_server.h"

namespace pushbroker::testing {

class RedisCluster {
 public:
  static absl::StatusOr<std::unique_ptr<RedisCluster>> Start();

  // The masters' addresses, comma-separated (--redis_addrs).
  std::string seeds() const;
  size_t size() const { return nodes_.size(); }
  RedisServer& node(size_t i) { return *nodes_[i]; }
  // The node serving `slot` as master now, or -1.
  absl::StatusOr<int> MasterOf(int slot);
  // A replica of the master node `master`, or -1.
  absl::StatusOr<int> ReplicaOf(int master);
  // Runs one command on node `i`.
  absl::StatusOr<redis::RespValue> Call(size_t i, std::vector<std::string> args);
  // Until every live node says cluster_state:ok and every live replica is
  // in sync with its master; with `whole_view`, also until every node sees
  // each shard with its replica, all online (gossip takes some seconds
  // more: a failover needs it, other tests do not).
  absl::Status AwaitHealthy(absl::Duration timeout, bool whole_view = false);
  // Moves `slots` slots from node `from` to node `to` (redis-cli --cluster
  // reshard); blocks until done.
  absl::Status Reshard(size_t from, size_t to, int slots);

 private:
  RedisCluster() = default;
  std::string NodeId(size_t i);

  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace pushbroker::testing

#endif  // PUSH_BROKER_TESTS_SUPPORT_REDIS_CLUSTER_H_
