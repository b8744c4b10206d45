// RedisRouter: the connections to every master of a Redis deployment, and
// which master serves which slot. One standalone server serves every slot;
// a Redis Cluster (detected from the seeds: CLUSTER SHARDS) is mapped, and
// the map is read again every 30 s, on a MOVED, and while a master is lost.
// Commands are sent to the master of their slot, pipelined per master and
// in parallel across masters, and retried while the error proves they did
// not run (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, LOADING, a slot in migration,
// not sent) until --redis_io_timeout. Thread-safe; callbacks given to it run
// on connection I/O threads and must not block.
#ifndef PUSH_BROKER_REDIS_REDIS_ROUTER_H_
#define PUSH_BROKER_REDIS_REDIS_ROUTER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "redis/cluster_shards.h"
#include "redis/redis_client.h"

namespace pushbroker::redis {

// A command for the master that serves `slot`.
struct SlotCommand {
  int slot = 0;
  std::vector<std::string> args;
  // The index in `args` of the incarnation fence, filled when sent with
  // "<run_id of the process it goes to>|<run_ids of every master serving>"
  // ("" when fencing is off); -1: none.
  int fence_at = -1;
};

struct RedisRouterOptions {
  std::vector<std::string> seeds;  // "host:port" of one server, or of cluster nodes
  std::string password;
  absl::Duration io_timeout = absl::Seconds(3);
  std::string client_name = "push-broker";
  bool fence = true;
  // Run on every master connection after its handshake (FUNCTION LOAD),
  // and again on a master whose reply says the library is gone.
  std::vector<std::vector<std::string>> handshake_commands;
  absl::Duration refresh_every = absl::Seconds(30);
  // A seam for tests: makes a socket connected to the node at `address`
  // (RedisClientOptions::connect). Null: TCP.
  std::function<int(const std::string& address)> connect;
  // After the map changed (the first included), with it; on the router's
  // thread, which it may block briefly (starting or stopping feeds).
  std::function<void(const SlotMap&)> on_map;
};

struct RedisRouterCounters {
  std::atomic<uint64_t> redirects{0};         // MOVED and ASK replies followed
  std::atomic<uint64_t> retries{0};           // TRYAGAIN, CLUSTERDOWN, migrating, not sent
  std::atomic<uint64_t> map_refreshes{0};     // maps read that differed from the last
  std::atomic<uint64_t> function_reloads{0};  // masters that had lost the library
};

class RedisRouter {
 public:
  static absl::StatusOr<std::unique_ptr<RedisRouter>> Start(RedisRouterOptions options);
  RedisRouter(const RedisRouter&) = delete;
  RedisRouter& operator=(const RedisRouter&) = delete;
  ~RedisRouter();

  // Runs every command on its slot's master and waits for every outcome,
  // in order. Error replies that prove nothing ran are retried within
  // io_timeout; others are returned as replies.
  std::vector<absl::StatusOr<RespValue>> CallAll(std::vector<SlotCommand> commands)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<RespValue> Call(SlotCommand command) ABSL_LOCKS_EXCLUDED(mu_);
  // Sends once, not waited for and not retried (best-effort writes); a
  // MOVED reply asks for a new map. `done` may be null.
  void Submit(SlotCommand command, RedisClient::Callback done = nullptr) ABSL_LOCKS_EXCLUDED(mu_);
  // Sends `args` to every master and waits (replies come in order on each
  // connection, so what was sent before has been answered).
  void Barrier(std::vector<std::string> args) ABSL_LOCKS_EXCLUDED(mu_);

  // The connection to the master at `address`; null when it serves no slot.
  std::shared_ptr<RedisClient> ClientOf(const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);
  // The map is read again soon (a slot moved, a master was lost).
  void RefreshSoon() ABSL_LOCKS_EXCLUDED(mu_);
  // A map is known and every master's connection is up.
  bool connected() const ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the deployment is a Redis Cluster (false until known).
  bool cluster() const ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<SlotMap> map() const ABSL_LOCKS_EXCLUDED(mu_);
  // Why the map is unknown, when it is.
  std::string last_error() const ABSL_LOCKS_EXCLUDED(mu_);
  const RedisRouterCounters& counters() const { return counters_; }

 private:
  struct Attempt;
  explicit RedisRouter(RedisRouterOptions options);
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Reads the map from a master or a seed; installs it when it changed.
  void Refresh() ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<RedisClient> ClientOfLocked(const std::string& address)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The master of `slot`, waiting for a map until `deadline`; "" if none.
  std::string MasterOf(int slot, absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);
  // The run_ids of the masters serving now, comma-separated: the fence
  // argument's second part (functions.lua).
  std::string ServingRunIds() ABSL_LOCKS_EXCLUDED(mu_);
  // Sends one round of attempts and waits for their replies.
  void SendRound(std::vector<Attempt*>& round, absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);
  // Whether `attempt`'s outcome should be retried, readying it if so.
  bool ShouldRetry(Attempt& attempt) ABSL_LOCKS_EXCLUDED(mu_);

  const RedisRouterOptions options_;
  RedisRouterCounters counters_;

  mutable absl::Mutex mu_;
  std::optional<SlotMap> map_ ABSL_GUARDED_BY(mu_);
  bool cluster_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> known_nodes_ ABSL_GUARDED_BY(mu_);  // every node of the last map
  std::map<std::string, std::shared_ptr<RedisClient>> masters_ ABSL_GUARDED_BY(mu_);
  std::string last_error_ ABSL_GUARDED_BY(mu_) = "not connected yet";
  bool refresh_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<SlotMap> announced_;  // the last map given to on_map (the router's thread's)
  std::thread thread_;
};

}  // namespace pushbroker::redis

#endif  // PUSH_BROKER_REDIS_REDIS_ROUTER_H_
