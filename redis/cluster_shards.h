// Who serves which slots of a Redis Cluster, as CLUSTER SHARDS tells it
// (Redis 7.0), and the same picture for one standalone server. Values and
// pure functions; safe from any thread.
#ifndef PUSH_BROKER_REDIS_CLUSTER_SHARDS_H_
#define PUSH_BROKER_REDIS_CLUSTER_SHARDS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "redis/resp.h"

namespace pushbroker::redis {

struct ClusterShard {
  std::vector<std::pair<int, int>> slots;  // inclusive ranges
  std::string master;                      // "ip:port" of its online master, "" when none
  std::vector<std::string> nodes;          // every node's "ip:port", master first
  bool all_online = true;                  // every node's health is "online"
};

// The shards of a CLUSTER SHARDS reply (RESP2: each shard a flat array of
// "slots" [start, end, ...] and "nodes" [flat field/value arrays]).
// INVALID_ARGUMENT when the reply is not of that shape.
absl::StatusOr<std::vector<ClusterShard>> ParseClusterShards(const RespValue& reply);

// The master serving each slot: an index into `masters`, or -1 when no
// master serves it. Built from parsed shards; masters listed once each.
struct SlotMap {
  bool cluster = false;  // a Redis Cluster, not one standalone server
  std::vector<std::string> masters;
  std::vector<int> owner_of_slot;  // kClusterSlots entries

  // Every slot on one server.
  static SlotMap Standalone(const std::string& address);
  static SlotMap FromShards(const std::vector<ClusterShard>& shards);
  // "" when no master serves the slot.
  const std::string& MasterOf(int slot) const;
  // Moves one slot to `address` (a MOVED reply), adding it as a master.
  void Move(int slot, const std::string& address);
  bool operator==(const SlotMap& other) const;
};

}  // namespace pushbroker::redis

#endif  // PUSH_BROKER_REDIS_CLUSTER_SHARDS_H_
