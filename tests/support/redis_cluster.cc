#include "tests/support/redis_cluster.h"

#include <sys/wait.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "redis/cluster_shards.h"
#include "redis/redis_client.h"
#include "tests/support/child_process.h"

namespace pushbroker::testing {
namespace {

constexpr int kNodes = 6;

// "field:value" of an INFO or CLUSTER INFO text.
std::string InfoField(absl::string_view text, absl::string_view field) {
  for (absl::string_view line : absl::StrSplit(text, absl::ByAnyChar("\r\n"))) {
    if (absl::ConsumePrefix(&line, field) && absl::ConsumePrefix(&line, ":")) {
      return std::string(line);
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisCluster>> RedisCluster::Start() {
  std::unique_ptr<RedisCluster> cluster(new RedisCluster());
  std::vector<std::string> addresses;
  for (int i = 0; i < kNodes; ++i) {
    absl::StatusOr<RedisServer> node =
        RedisServer::Start({"--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
                            "--cluster-require-full-coverage", "no", "--repl-diskless-sync-delay",
                            "0", "--client-output-buffer-limit", "pubsub 256mb 64mb 60"});
    if (!node.ok()) return node.status();
    addresses.push_back(node->address());
    cluster->nodes_.push_back(std::make_unique<RedisServer>(*std::move(node)));
  }
  // The first three become masters, each later one a replica.
  const CommandResult created =
      RunCommand(absl::StrCat("redis-cli --cluster create ", absl::StrJoin(addresses, " "),
                              " --cluster-replicas 1 --cluster-yes 2>&1"));
  if (created.exit_status != 0) {
    return absl::InternalError(absl::StrCat("redis-cli --cluster create: ", created.output));
  }
  if (absl::Status healthy = cluster->AwaitHealthy(absl::Seconds(30)); !healthy.ok()) {
    return healthy;
  }
  return cluster;
}

std::string RedisCluster::seeds() const {
  std::vector<std::string> masters;
  for (size_t i = 0; i < 3 && i < nodes_.size(); ++i) masters.push_back(nodes_[i]->address());
  return absl::StrJoin(masters, ",");
}

absl::StatusOr<redis::RespValue> RedisCluster::Call(size_t i, std::vector<std::string> args) {
  redis::RedisClientOptions options;
  options.address = nodes_[i]->address();
  options.io_timeout = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<redis::RedisClient>> client =
      redis::RedisClient::Start(std::move(options));
  if (!client.ok()) return client.status();
  return (*client)->Call(std::move(args));
}

absl::StatusOr<int> RedisCluster::MasterOf(int slot) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->pid() <= 0) continue;
    absl::StatusOr<redis::RespValue> reply = Call(i, {"CLUSTER", "SHARDS"});
    if (!reply.ok() || reply->is_error()) continue;
    absl::StatusOr<std::vector<redis::ClusterShard>> shards = redis::ParseClusterShards(*reply);
    if (!shards.ok()) return shards.status();
    const std::string master = redis::SlotMap::FromShards(*shards).MasterOf(slot);
    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (nodes_[j]->address() == master) return static_cast<int>(j);
    }
    return -1;
  }
  return absl::UnavailableError("no node answers");
}

absl::StatusOr<int> RedisCluster::ReplicaOf(int master) {
  absl::StatusOr<redis::RespValue> reply = Call(master, {"CLUSTER", "SHARDS"});
  if (!reply.ok()) return reply.status();
  absl::StatusOr<std::vector<redis::ClusterShard>> shards = redis::ParseClusterShards(*reply);
  if (!shards.ok()) return shards.status();
  for (const redis::ClusterShard& shard : *shards) {
    if (shard.master != nodes_[master]->address()) continue;
    for (size_t i = 1; i < shard.nodes.size(); ++i) {
      for (size_t j = 0; j < nodes_.size(); ++j) {
        if (nodes_[j]->address() == shard.nodes[i]) return static_cast<int>(j);
      }
    }
  }
  return -1;
}

absl::Status RedisCluster::AwaitHealthy(absl::Duration timeout, bool whole_view) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string why;
  while (absl::Now() < deadline) {
    why.clear();
    for (size_t i = 0; i < nodes_.size() && why.empty(); ++i) {
      if (nodes_[i]->pid() <= 0) continue;
      absl::StatusOr<redis::RespValue> info = Call(i, {"CLUSTER", "INFO"});
      if (!info.ok() || InfoField(info->text, "cluster_state") != "ok") {
        why = absl::StrCat("node ", i, " not cluster_state:ok");
        break;
      }
      absl::StatusOr<redis::RespValue> replication = Call(i, {"INFO", "replication"});
      if (!replication.ok()) {
        why = absl::StrCat("node ", i, ": ", replication.status().message());
        break;
      }
      if (InfoField(replication->text, "role") == "slave" &&
          (InfoField(replication->text, "master_link_status") != "up" ||
           InfoField(replication->text, "master_sync_in_progress") != "0")) {
        why = absl::StrCat("replica ", i, " not in sync");
        break;
      }
      if (!whole_view) continue;
      // Every node's view agrees: each shard serving slots has a replica,
      // all online, and no node shows as a master without slots (a replica
      // whose role has not reached this node yet).
      absl::StatusOr<redis::RespValue> shards_reply = Call(i, {"CLUSTER", "SHARDS"});
      absl::StatusOr<std::vector<redis::ClusterShard>> shards =
          shards_reply.ok()
              ? redis::ParseClusterShards(*shards_reply)
              : absl::StatusOr<std::vector<redis::ClusterShard>>(shards_reply.status());
      if (!shards.ok()) {
        why = absl::StrCat("node ", i, ": ", shards.status().message());
        break;
      }
      for (const redis::ClusterShard& shard : *shards) {
        if (shard.slots.empty() || shard.master.empty() || shard.nodes.size() < 2 ||
            !shard.all_online) {
          why = absl::StrCat("node ", i, " does not see every shard whole yet");
        }
      }
    }
    if (why.empty()) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("cluster not healthy: ", why));
}

std::string RedisCluster::NodeId(size_t i) {
  absl::StatusOr<redis::RespValue> reply = Call(i, {"CLUSTER", "MYID"});
  return reply.ok() ? reply->text : "";
}

absl::Status RedisCluster::Reshard(size_t from, size_t to, int slots) {
  const CommandResult moved = RunCommand(absl::StrCat(
      "redis-cli --cluster reshard ", nodes_[from]->address(), " --cluster-from ", NodeId(from),
      " --cluster-to ", NodeId(to), " --cluster-slots ", slots, " --cluster-yes 2>&1"));
  if (moved.exit_status != 0) {
    return absl::InternalError(absl::StrCat("redis-cli --cluster reshard: ", moved.output));
  }
  return absl::OkStatus();
}

}  // namespace pushbroker::testing
