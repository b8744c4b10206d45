#include "redis/redis_router.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace pushbroker::redis {
namespace {

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(5);
constexpr absl::Duration kMaxBackoff = absl::Milliseconds(250);
// While the map is unknown, or a master of a cluster is lost, the map is
// read this often.
constexpr absl::Duration kRefreshWhileUnsure = absl::Milliseconds(500);

// "MOVED 3999 127.0.0.1:6381" -> {3999, "127.0.0.1:6381"}.
std::optional<std::pair<int, std::string>> ParseRedirect(absl::string_view text) {
  std::vector<absl::string_view> words = absl::StrSplit(text, ' ', absl::SkipEmpty());
  int slot = 0;
  if (words.size() != 3 || !absl::SimpleAtoi(words[1], &slot)) return std::nullopt;
  return std::make_pair(slot, std::string(words[2]));
}

bool IsFunctionCall(const SlotCommand& command) {
  return !command.args.empty() && absl::EqualsIgnoreCase(command.args[0], "FCALL");
}

}  // namespace

struct RedisRouter::Attempt {
  SlotCommand command;
  absl::StatusOr<RespValue> result = absl::UnknownError("redis: no outcome");
  std::string target;  // where to send next ("": the slot's master)
  bool asking = false;
  bool at_once = false;  // retried without waiting (a redirect)
  bool reloaded = false;
  std::string sent_to;
};

absl::StatusOr<std::unique_ptr<RedisRouter>> RedisRouter::Start(RedisRouterOptions options) {
  if (options.seeds.empty()) return absl::InvalidArgumentError("no Redis address given");
  for (const std::string& seed : options.seeds) {
    const size_t colon = seed.rfind(':');
    int port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(seed.substr(colon + 1), &port) || port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("'", seed, "' is not host:port"));
    }
  }
  std::unique_ptr<RedisRouter> router(new RedisRouter(std::move(options)));
  router->thread_ = std::thread([raw = router.get()] { raw->Run(); });
  return router;
}

RedisRouter::RedisRouter(RedisRouterOptions options) : options_(std::move(options)) {}

RedisRouter::~RedisRouter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  std::map<std::string, std::shared_ptr<RedisClient>> masters;
  {
    absl::MutexLock lock(&mu_);
    masters.swap(masters_);
  }
  masters.clear();  // joins their I/O threads, outside the lock their callbacks take
}

std::shared_ptr<RedisClient> RedisRouter::ClientOfLocked(const std::string& address) {
  auto found = masters_.find(address);
  if (found != masters_.end()) return found->second;
  RedisClientOptions options =
      KeptConnection(address, options_.password, options_.io_timeout, options_.client_name);
  options.handshake_commands = options_.handshake_commands;
  options.on_lost = [this](absl::string_view) { RefreshSoon(); };
  if (options_.connect)
    options.connect = [connect = options_.connect, address] { return connect(address); };
  absl::StatusOr<std::unique_ptr<RedisClient>> client = RedisClient::Start(std::move(options));
  if (!client.ok()) {
    last_error_ = std::string(client.status().message());
    return nullptr;
  }
  std::shared_ptr<RedisClient> shared = *std::move(client);
  masters_[address] = shared;
  return shared;
}

std::shared_ptr<RedisClient> RedisRouter::ClientOf(const std::string& address) {
  absl::MutexLock lock(&mu_);
  if (!map_.has_value() ||
      std::find(map_->masters.begin(), map_->masters.end(), address) == map_->masters.end()) {
    return nullptr;
  }
  return ClientOfLocked(address);
}

void RedisRouter::RefreshSoon() {
  absl::MutexLock lock(&mu_);
  refresh_ = true;
}

bool RedisRouter::connected() const {
  std::vector<std::shared_ptr<RedisClient>> clients;
  {
    absl::MutexLock lock(&mu_);
    if (!map_.has_value()) return false;
    for (const std::string& master : map_->masters) {
      auto found = masters_.find(master);
      if (found == masters_.end()) return false;
      clients.push_back(found->second);
    }
  }
  return std::all_of(clients.begin(), clients.end(),
                     [](const std::shared_ptr<RedisClient>& c) { return c->connected(); });
}

bool RedisRouter::cluster() const {
  absl::MutexLock lock(&mu_);
  return cluster_;
}

std::optional<SlotMap> RedisRouter::map() const {
  absl::MutexLock lock(&mu_);
  return map_;
}

std::string RedisRouter::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

std::string RedisRouter::MasterOf(int slot, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto known = [this]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return map_.has_value() || stopping_; };
  mu_.AwaitWithTimeout(absl::Condition(&known), deadline - absl::Now());
  return map_.has_value() ? map_->MasterOf(slot) : "";
}

std::string RedisRouter::ServingRunIds() {
  std::vector<std::shared_ptr<RedisClient>> clients;
  {
    absl::MutexLock lock(&mu_);
    if (!map_.has_value()) return "";
    for (const std::string& master : map_->masters) {
      auto found = masters_.find(master);
      if (found != masters_.end()) clients.push_back(found->second);
    }
  }
  std::vector<std::string> run_ids;
  for (const auto& client : clients) {
    if (std::string run_id = client->run_id(); !run_id.empty()) run_ids.push_back(run_id);
  }
  return absl::StrJoin(run_ids, ",");
}

void RedisRouter::SendRound(std::vector<Attempt*>& round, absl::Time deadline) {
  std::map<std::string, std::vector<Attempt*>> by_node;
  std::string serving;  // computed once per round, when a fenced command needs it
  bool serving_known = false;
  for (Attempt* attempt : round) {
    std::string address =
        attempt->target.empty() ? MasterOf(attempt->command.slot, deadline) : attempt->target;
    if (address.empty()) {
      attempt->sent_to.clear();
      attempt->result =
          absl::UnavailableError(absl::StrCat("redis: not sent: no master serves slot ",
                                              attempt->command.slot, " (", last_error(), ")"));
      continue;
    }
    by_node[address].push_back(attempt);
  }
  absl::Mutex done_mu;
  size_t left = 0;
  for (auto& [address, attempts] : by_node) {
    std::shared_ptr<RedisClient> client;
    {
      absl::MutexLock lock(&mu_);
      client = ClientOfLocked(address);
    }
    // A fenced command goes only to the process whose run_id it carries:
    // wait briefly for the connection to know it.
    std::string run_id = client != nullptr ? client->run_id() : "";
    const bool fenced = std::any_of(attempts.begin(), attempts.end(),
                                    [](Attempt* a) { return a->command.fence_at >= 0; });
    while (client != nullptr && fenced && run_id.empty() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
      run_id = client->run_id();
    }
    for (Attempt* attempt : attempts) {
      attempt->sent_to = address;
      const bool needs_run_id = attempt->command.fence_at >= 0;
      if (client == nullptr || (needs_run_id && run_id.empty())) {
        attempt->result = absl::UnavailableError(
            absl::StrCat("redis ", address, ": not sent: not connected (", last_error(), ")"));
        continue;
      }
      std::vector<std::string> args = attempt->command.args;
      if (needs_run_id) {
        if (options_.fence && !serving_known) {
          serving = ServingRunIds();
          serving_known = true;
        }
        args[attempt->command.fence_at] = options_.fence ? absl::StrCat(run_id, "|", serving) : "";
      }
      {
        absl::MutexLock lock(&done_mu);
        ++left;
      }
      client->Submit(
          std::move(args),
          [attempt, &done_mu, &left](absl::StatusOr<RespValue> reply) {
            attempt->result = std::move(reply);
            absl::MutexLock lock(&done_mu);
            --left;
          },
          needs_run_id ? run_id : "", attempt->asking);
    }
  }
  absl::MutexLock lock(&done_mu);
  done_mu.Await(absl::Condition(
      +[](size_t* n) { return *n == 0; }, &left));  // each ends by its own deadline
}

bool RedisRouter::ShouldRetry(Attempt& attempt) {
  attempt.target.clear();
  attempt.asking = false;
  attempt.at_once = false;
  if (!attempt.result.ok()) {
    // Never written, so never run: the map may have moved on.
    if (!absl::StrContains(attempt.result.status().message(), "not sent")) return false;
    if (cluster()) RefreshSoon();
    counters_.retries.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  const RespValue& reply = *attempt.result;
  if (!reply.is_error()) return false;
  const absl::string_view kind = reply.error_kind();
  if (kind == "MOVED" || kind == "ASK") {
    std::optional<std::pair<int, std::string>> redirect = ParseRedirect(reply.text);
    if (!redirect.has_value()) return false;
    counters_.redirects.fetch_add(1, std::memory_order_relaxed);
    if (kind == "MOVED") {
      absl::MutexLock lock(&mu_);
      if (map_.has_value()) map_->Move(redirect->first, redirect->second);
      refresh_ = true;
      attempt.at_once = true;
      return true;
    }
    // A slot in migration. A plain command follows it with ASKING; a pb1
    // function touches several keys of the slot, which may be split
    // between the two nodes for now, so it waits for the slot to settle
    // (functions.lua checks every key it touches is here before writing).
    if (!IsFunctionCall(attempt.command)) {
      attempt.target = redirect->second;
      attempt.asking = true;
      attempt.at_once = true;
    }
    return true;
  }
  if (kind == "TRYAGAIN" || kind == "CLUSTERDOWN" || kind == "LOADING" ||
      absl::StrContains(reply.text, "non local key") ||
      absl::StrContains(reply.text, "cluster is down")) {
    counters_.retries.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  if (absl::StrContains(reply.text, "Function not found") && !attempt.reloaded &&
      !options_.handshake_commands.empty()) {
    // FUNCTION FLUSH, or a new master without the library: load it again.
    std::shared_ptr<RedisClient> client;
    {
      absl::MutexLock lock(&mu_);
      client = ClientOfLocked(attempt.sent_to);
    }
    if (client == nullptr) return false;
    client->CallAll(options_.handshake_commands);
    counters_.function_reloads.fetch_add(1, std::memory_order_relaxed);
    attempt.reloaded = true;
    attempt.at_once = true;
    return true;
  }
  return false;
}

std::vector<absl::StatusOr<RespValue>> RedisRouter::CallAll(std::vector<SlotCommand> commands) {
  const absl::Time deadline = absl::Now() + options_.io_timeout;
  std::vector<Attempt> attempts(commands.size());
  std::vector<Attempt*> round;
  for (size_t i = 0; i < commands.size(); ++i) {
    attempts[i].command = std::move(commands[i]);
    round.push_back(&attempts[i]);
  }
  absl::Duration backoff = kFirstBackoff;
  while (!round.empty()) {
    SendRound(round, deadline);
    std::vector<Attempt*> again;
    bool wait = false;
    for (Attempt* attempt : round) {
      if (!ShouldRetry(*attempt)) continue;
      again.push_back(attempt);
      wait = wait || !attempt->at_once;
    }
    // Past the deadline, the last outcomes stand.
    if (again.empty() || absl::Now() + (wait ? backoff : absl::ZeroDuration()) >= deadline) break;
    if (wait) {
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    round.swap(again);
  }
  std::vector<absl::StatusOr<RespValue>> results;
  results.reserve(attempts.size());
  for (Attempt& attempt : attempts) results.push_back(std::move(attempt.result));
  return results;
}

absl::StatusOr<RespValue> RedisRouter::Call(SlotCommand command) {
  std::vector<SlotCommand> commands;
  commands.push_back(std::move(command));
  return std::move(CallAll(std::move(commands)).front());
}

void RedisRouter::Submit(SlotCommand command, RedisClient::Callback done) {
  std::shared_ptr<RedisClient> client;
  {
    absl::MutexLock lock(&mu_);
    if (map_.has_value() && !map_->MasterOf(command.slot).empty()) {
      client = ClientOfLocked(map_->MasterOf(command.slot));
    }
  }
  if (client == nullptr) {
    if (done) done(absl::UnavailableError("redis: not sent: no master known for the slot"));
    return;
  }
  std::string run_id;
  if (command.fence_at >= 0) {
    run_id = client->run_id();
    command.args[command.fence_at] =
        options_.fence ? absl::StrCat(run_id, "|", ServingRunIds()) : "";
  }
  client->Submit(
      std::move(command.args),
      [this, done = std::move(done)](absl::StatusOr<RespValue> reply) {
        if (reply.ok() && reply->is_error() && reply->error_kind() == "MOVED") RefreshSoon();
        if (done) done(std::move(reply));
      },
      std::move(run_id));
}

void RedisRouter::Barrier(std::vector<std::string> args) {
  std::vector<std::shared_ptr<RedisClient>> clients;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [address, client] : masters_) {
      if (client->connected()) clients.push_back(client);
    }
  }
  for (auto& client : clients) (void)client->Call(args);
}

void RedisRouter::Refresh() {
  // Ask a master already connected; else the seeds and every node last
  // seen, one at a time, on a connection of its own.
  std::vector<std::shared_ptr<RedisClient>> connected;
  std::vector<std::string> addresses;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [address, client] : masters_) {
      if (client->connected()) connected.push_back(client);
    }
    addresses = options_.seeds;
    for (const std::string& node : known_nodes_) {
      if (std::find(addresses.begin(), addresses.end(), node) == addresses.end()) {
        addresses.push_back(node);
      }
    }
  }
  std::optional<SlotMap> map;
  std::vector<std::string> nodes;
  std::string error;
  auto interpret = [&](const std::string& address, absl::StatusOr<RespValue> reply) {
    if (!reply.ok()) {
      error = absl::StrCat(address, ": ", reply.status().message());
      return false;
    }
    if (reply->is_error()) {
      if (!absl::StrContains(reply->text, "cluster support disabled")) {
        error = absl::StrCat(address, ": ", reply->text);
        return false;
      }
      if (options_.seeds.size() > 1) {
        error =
            absl::StrCat("--redis_addrs lists ", options_.seeds.size(), " addresses but ", address,
                         " is a standalone server: give one address, or nodes of one cluster");
        return false;
      }
      map = SlotMap::Standalone(options_.seeds.front());
      return true;
    }
    absl::StatusOr<std::vector<ClusterShard>> shards = ParseClusterShards(*reply);
    if (!shards.ok()) {
      error = absl::StrCat(address, ": ", shards.status().message());
      return false;
    }
    SlotMap found = SlotMap::FromShards(*shards);
    if (found.masters.empty()) {
      error = absl::StrCat(address, ": the cluster has no master serving slots");
      return false;
    }
    for (const ClusterShard& shard : *shards) {
      nodes.insert(nodes.end(), shard.nodes.begin(), shard.nodes.end());
    }
    map = std::move(found);
    return true;
  };
  bool found = false;
  for (auto& client : connected) {
    if (interpret("a master", client->Call({"CLUSTER", "SHARDS"}))) {
      found = true;
      break;
    }
  }
  for (size_t i = 0; !found && i < addresses.size(); ++i) {
    RedisClientOptions options;
    options.address = addresses[i];
    options.password = options_.password;
    options.io_timeout = std::min(options_.io_timeout, absl::Seconds(1));
    options.client_name = options_.client_name;
    if (options_.connect)
      options.connect = [connect = options_.connect, address = addresses[i]] {
        return connect(address);
      };
    absl::StatusOr<std::unique_ptr<RedisClient>> client = RedisClient::Start(std::move(options));
    if (!client.ok()) {
      error = std::string(client.status().message());
      continue;
    }
    found = interpret(addresses[i], (*client)->Call({"CLUSTER", "SHARDS"}));
  }
  std::vector<std::shared_ptr<RedisClient>> retired;
  {
    absl::MutexLock lock(&mu_);
    if (!found) {
      last_error_ = error;
      return;
    }
    map_ = *map;
    cluster_ = map->cluster;
    if (!nodes.empty()) known_nodes_ = nodes;
    for (auto it = masters_.begin(); it != masters_.end();) {
      if (std::find(map->masters.begin(), map->masters.end(), it->first) == map->masters.end()) {
        retired.push_back(std::move(it->second));
        it = masters_.erase(it);
      } else {
        ++it;
      }
    }
    for (const std::string& master : map->masters) ClientOfLocked(master);
  }
  retired.clear();  // outside the lock: their threads' callbacks take it
  // Compared with the last map announced, not map_: a MOVED may have
  // patched map_ already.
  const bool changed = !announced_.has_value() || !(*announced_ == *map);
  if (changed) {
    announced_ = map;
    counters_.map_refreshes.fetch_add(1, std::memory_order_relaxed);
    if (options_.on_map) options_.on_map(*map);
  }
}

void RedisRouter::Run() {
  absl::Time next_refresh = absl::InfinitePast();
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    if (!map_.has_value() || refresh_ || absl::Now() >= next_refresh) {
      refresh_ = false;
      mu_.Unlock();
      Refresh();
      mu_.Lock();
      next_refresh = absl::Now() + options_.refresh_every;
    }
    bool unsure = !map_.has_value();
    if (cluster_) {
      for (auto& [address, client] : masters_) unsure = unsure || !client->connected();
    }
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || refresh_; };
    const absl::Duration wait = unsure ? kRefreshWhileUnsure : next_refresh - absl::Now();
    if (!mu_.AwaitWithTimeout(absl::Condition(&woken), wait) && unsure) refresh_ = true;
  }
}

}  // namespace pushbroker::redis
