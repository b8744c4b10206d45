#include "redis/redis_mailbox_store.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "broker/status_macros.h"
#include "redis/functions.h"

namespace pushbroker::redis {
namespace {

// Mailboxes per pb1_append call: one call is atomic, so a big one holds up
// other commands on its node; 128 members take about 2 ms.
constexpr size_t kMembersPerCall = 128;
// Idle mailboxes one pb1_sweep call removes at most.
constexpr int kSweepBatch = 1000;
constexpr absl::Duration kTick = absl::Seconds(1);

// Stands for the fence in a pb1 call's second argument until the call is
// sent (CallFunctions): then the fence of the process it goes to.
const std::string& FencePlaceholder() {
  static const std::string* const kPlaceholder = new std::string("\0fence", 6);
  return *kPlaceholder;
}

std::string Millis(absl::Time t) { return std::to_string(absl::ToUnixMillis(t)); }

bool ValidReplicaId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::optional<ResetReason> ResetFromName(absl::string_view name) {
  for (ResetReason reason : {ResetReason::kMalformedId, ResetReason::kForeignEpoch,
                             ResetReason::kAheadOfMailbox, ResetReason::kMessagesEvicted}) {
    if (ResetReasonName(reason) == name) return reason;
  }
  return std::nullopt;
}

uint64_t ParseEpoch(absl::string_view hex) {
  uint64_t epoch = 0;
  return absl::SimpleHexAtoi(hex, &epoch) ? epoch : 0;
}

// An entry "<offset> <published_ms> <expires_ms> <bytes> <event_len> <event><data>".
std::optional<Message> ParseEntry(absl::string_view entry, uint64_t epoch) {
  std::vector<absl::string_view> head = absl::StrSplit(entry, absl::MaxSplits(' ', 5));
  uint64_t offset = 0;
  int64_t published_ms = 0, expires_ms = 0;
  size_t event_len = 0;
  if (head.size() != 6 || !absl::SimpleAtoi(head[0], &offset) ||
      !absl::SimpleAtoi(head[1], &published_ms) || !absl::SimpleAtoi(head[2], &expires_ms) ||
      !absl::SimpleAtoi(head[4], &event_len) || head[5].size() < event_len) {
    return std::nullopt;
  }
  auto payload = std::make_shared<const Payload>(
      Payload{std::string(head[5].substr(0, event_len)), std::string(head[5].substr(event_len))});
  return Message{MessageId{epoch, offset}, std::move(payload), absl::FromUnixMillis(published_ms),
                 absl::FromUnixMillis(expires_ms)};
}

// A command on keys of `partition`: sent to the master of its slot.
SlotCommand PartitionCommand(int partition, std::vector<std::string> args) {
  return SlotCommand{HashSlot(RegistryKey(partition)), std::move(args)};
}

// An FCALL of one pb1 function on `partition`, with `args` after its key.
SlotCommand FunctionCall(const std::string& function, int partition,
                         std::vector<std::string> args) {
  std::vector<std::string> command = {"FCALL", function, "1", RegistryKey(partition)};
  command.insert(command.end(), std::make_move_iterator(args.begin()),
                 std::make_move_iterator(args.end()));
  return PartitionCommand(partition, std::move(command));
}

// A command on a topic's member set, in the topic's own slot.
SlotCommand TopicCommand(absl::string_view topic, std::vector<std::string> args) {
  return SlotCommand{HashSlot(TopicKey(topic)), std::move(args)};
}

absl::Status MailboxLimitError(const StoreLimits& limits) {
  return absl::ResourceExhaustedError(
      absl::StrCat("--max_mailboxes=", limits.max_mailboxes,
                   " reached (counted across replicas every few seconds); no mailbox created"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisMailboxStore>> RedisMailboxStore::Start(
    RedisStoreOptions options, RetentionPolicy retention, StoreLimits limits) {
  if (!ValidReplicaId(options.replica_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--replica_id '", options.replica_id, "' must be 1-128 of [A-Za-z0-9._-]"));
  }
  std::unique_ptr<RedisMailboxStore> store(
      new RedisMailboxStore(std::move(options), retention, limits));
  RedisRouterOptions router;
  for (absl::string_view address :
       absl::StrSplit(store->options_.address, ',', absl::SkipWhitespace())) {
    router.seeds.emplace_back(absl::StripAsciiWhitespace(address));
  }
  router.password = store->options_.password;
  router.io_timeout = store->options_.io_timeout;
  router.client_name = absl::StrCat("push-broker-", store->options_.replica_id);
  router.fence = store->options_.fence;
  router.handshake_commands = {{"FUNCTION", "LOAD", "REPLACE", std::string(RedisFunctionsLua())}};
  router.on_map = [raw = store.get()](const SlotMap& map) { raw->OnMap(map); };
  ASSIGN_OR_RETURN(store->router_, RedisRouter::Start(std::move(router)));
  store->router_started_.Notify();
  store->maintenance_ = std::thread([raw = store.get()] { raw->MaintenanceLoop(); });
  return store;
}

RedisMailboxStore::RedisMailboxStore(RedisStoreOptions options, RetentionPolicy retention,
                                     StoreLimits limits)
    : options_(std::move(options)),
      retention_(retention),
      limits_(limits),
      clock_(options_.clock != nullptr ? options_.clock : &system_clock_) {}

RedisMailboxStore::~RedisMailboxStore() {
  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  if (maintenance_.joinable()) maintenance_.join();
  if (router_ == nullptr) return;  // Start() failed before connecting
  // Replies come in order: once these are back, the confirmations and the
  // releases of streams closed by the drain have run, and no route outlives
  // its stream.
  FlushConfirmations();
  router_->Barrier({"PING"});
  router_.reset();  // first: its thread starts and stops feeds
  absl::MutexLock lock(&feeds_mu_);
  feed_of_.fill(nullptr);
  feeds_.clear();
}

void RedisMailboxStore::SetAppendListener(AppendListener* listener) {
  listener_.store(listener);
  absl::MutexLock lock(&feeds_mu_);
  for (auto& [address, feed] : feeds_) feed->SetListener(listener);
}

bool RedisMailboxStore::up() const {
  if (!router_->connected()) return false;
  absl::MutexLock lock(&feeds_mu_);
  if (feeds_.empty()) return false;
  for (const auto& [address, feed] : feeds_) {
    if (!feed->live()) return false;
  }
  return true;
}

bool RedisMailboxStore::FeedLive(int partition) const {
  absl::MutexLock lock(&feeds_mu_);
  return feed_of_[partition] != nullptr && feed_of_[partition]->live(partition);
}

void RedisMailboxStore::OnMap(const SlotMap& map) {
  router_started_.WaitForNotification();
  std::map<std::string, LiveFeed::Partitions> owned;
  for (int partition = 0; partition < kPartitions; ++partition) {
    const std::string& master = map.MasterOf(HashSlot(RegistryKey(partition)));
    if (!master.empty()) owned[master].set(partition);
  }
  std::vector<std::unique_ptr<LiveFeed>> retired;
  {
    absl::MutexLock lock(&feeds_mu_);
    for (auto it = feeds_.begin(); it != feeds_.end();) {
      if (owned.count(it->first) == 0) {
        retired.push_back(std::move(it->second));
        it = feeds_.erase(it);
      } else {
        ++it;
      }
    }
    feed_of_.fill(nullptr);
    for (const auto& [master, partitions] : owned) {
      std::unique_ptr<LiveFeed>& feed = feeds_[master];
      if (feed == nullptr) {
        LiveFeedOptions options;
        options.address = master;
        options.password = options_.password;
        options.io_timeout = options_.io_timeout;
        options.replica_id = options_.replica_id;
        options.resync_retry_ms = options_.resync_retry_ms;
        options.counters = &feed_counters_;
        options.on_moved = [this](int) { router_->RefreshSoon(); };
        absl::StatusOr<std::unique_ptr<LiveFeed>> started = LiveFeed::Start(std::move(options));
        if (!started.ok()) {
          feeds_.erase(master);
          continue;  // its partitions refuse new streams until a later map
        }
        feed = *std::move(started);
        feed->SetListener(listener_.load());
      }
      // The first map finds no stream open; later, partitions that moved
      // in resume their streams once subscribed.
      feed->Assign(partitions, !first_map_);
      for (int p = 0; p < kPartitions; ++p) {
        if (partitions.test(p)) feed_of_[p] = feed.get();
      }
    }
    first_map_ = false;
  }
  if (options_.on_topology) options_.on_topology(map.cluster, map.masters);
  // A master that left (failed over, emptied by a reshard): its streams'
  // partitions are resubscribed on their new masters above.
  retired.clear();
}

void RedisMailboxStore::CheckFeeds(absl::Time now) {
  absl::MutexLock lock(&feeds_mu_);
  for (auto& [address, feed] : feeds_) {
    std::shared_ptr<RedisClient> commands = router_->ClientOf(address);
    if (commands != nullptr) feed->CheckLiveness(*commands, now);
  }
}

std::string RedisMailboxStore::NewEpoch() {
  absl::MutexLock lock(&epoch_mu_);
  // 48 random bits, never 0 (ids need a non-zero epoch).
  return absl::StrCat(absl::Hex(absl::Uniform<uint64_t>(epoch_gen_, 1, uint64_t{1} << 48)));
}

absl::Status RedisMailboxStore::StatusOfReply(const absl::StatusOr<RespValue>& reply) {
  if (!reply.ok()) {
    counters_.errors_unavailable.fetch_add(1, std::memory_order_relaxed);
    return reply.status();
  }
  if (!reply->is_error()) return absl::OkStatus();
  const absl::string_view kind = reply->error_kind();
  if (kind == "OOM") {
    counters_.errors_oom.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(absl::StrCat(
        "Redis is out of memory (maxmemory with noeviction): nothing was written: ", reply->text));
  }
  if (kind == "LOADING" || kind == "BUSY" || kind == "MASTERDOWN" || kind == "READONLY" ||
      kind == "CLUSTERDOWN" || kind == "TRYAGAIN") {
    counters_.errors_unavailable.fetch_add(1, std::memory_order_relaxed);
    return absl::UnavailableError(absl::StrCat("redis: not executed: ", reply->text));
  }
  counters_.errors_other.fetch_add(1, std::memory_order_relaxed);
  return absl::InternalError(absl::StrCat("redis: ", reply->text));
}

std::vector<absl::StatusOr<RespValue>> RedisMailboxStore::CallFunctions(
    std::vector<SlotCommand> commands) {
  for (SlotCommand& command : commands) {
    if (command.args.size() > 5 && command.args[5] == FencePlaceholder()) command.fence_at = 5;
  }
  const absl::Time start = absl::Now();
  counters_.in_flight.fetch_add(commands.size(), std::memory_order_relaxed);
  std::vector<absl::StatusOr<RespValue>> results = router_->CallAll(std::move(commands));
  counters_.in_flight.fetch_sub(results.size(), std::memory_order_relaxed);
  counters_.latency.Observe(absl::ToDoubleSeconds(absl::Now() - start));
  return results;
}

absl::StatusOr<RespValue> RedisMailboxStore::CallFunction(const std::string& function,
                                                          int partition,
                                                          std::vector<std::string> args) {
  std::vector<SlotCommand> commands(1);
  commands[0] = FunctionCall(function, partition, std::move(args));
  absl::StatusOr<RespValue> reply = std::move(CallFunctions(std::move(commands)).front());
  RETURN_IF_ERROR(StatusOfReply(reply));
  return reply;
}

bool RedisMailboxStore::MayCreate() const {
  return approx_mailboxes_.load(std::memory_order_relaxed) < limits_.max_mailboxes;
}

absl::StatusOr<std::vector<AppendedMessage>> RedisMailboxStore::Append(
    absl::Span<const std::string> client_ids, std::shared_ptr<const Payload> payload,
    absl::Time now, absl::Time expires_at, absl::string_view idempotency_key) {
  const absl::Time expires = std::min(expires_at, now + retention_.ttl);
  std::map<int, std::vector<size_t>> by_partition;
  for (size_t i = 0; i < client_ids.size(); ++i) {
    by_partition[PartitionOf(client_ids[i])].push_back(i);
  }
  const std::vector<std::string> head = {
      Millis(now),
      FencePlaceholder(),
      std::to_string(retention_.max_messages),
      std::to_string(retention_.max_bytes),
      Millis(expires),
      payload->event,
      payload->data,
      std::to_string(MessageBytes(*payload)),
      MayCreate() ? "1" : "0",
      std::string(idempotency_key),
      std::to_string(absl::ToInt64Milliseconds(options_.idempotency_window))};
  std::vector<SlotCommand> calls;
  std::vector<std::vector<size_t>> members;  // per call, indexes into client_ids
  for (const auto& [partition, indexes] : by_partition) {
    for (size_t begin = 0; begin < indexes.size(); begin += kMembersPerCall) {
      const size_t end = std::min(indexes.size(), begin + kMembersPerCall);
      SlotCommand call = FunctionCall("pb1_append", partition, head);
      members.emplace_back(indexes.begin() + begin, indexes.begin() + end);
      for (size_t index : members.back()) {
        call.args.push_back(client_ids[index]);
        call.args.push_back(NewEpoch());
      }
      calls.push_back(std::move(call));
    }
  }
  return CollectAppends(CallFunctions(std::move(calls)), members, client_ids.size());
}

absl::StatusOr<std::vector<AppendedMessage>> RedisMailboxStore::CollectAppends(
    std::vector<absl::StatusOr<RespValue>> replies, const std::vector<std::vector<size_t>>& members,
    size_t total) {
  std::vector<std::optional<AppendedMessage>> by_index(total);
  absl::Status failure;
  size_t failed = 0, refused = 0, appended = 0;
  for (size_t call = 0; call < replies.size(); ++call) {
    if (absl::Status status = StatusOfReply(replies[call]); !status.ok()) {
      failure.Update(status);
      failed += members[call].size();
      continue;
    }
    const std::vector<RespValue>& out = replies[call]->elements;
    for (size_t i = 0; i < out.size() && i < members[call].size(); ++i) {
      const std::vector<RespValue>& row = out[i].elements;
      std::optional<MessageId> id = row.size() == 4 ? MessageId::Parse(row[1].text) : std::nullopt;
      if (!id.has_value()) {
        ++refused;
        continue;
      }
      ++appended;
      by_index[members[call][i]] = AppendedMessage{
          row[0].text, *id, static_cast<size_t>(row[2].integer), row[3].integer == 1};
    }
  }
  if (failed > 0) {
    if (appended == 0) return failure;
    return absl::UnavailableError(
        absl::StrCat("appended to ", appended, " of ", total, " mailboxes (", failure.message(),
                     "); a retry with the same idempotency_key appends to the rest exactly once"));
  }
  if (refused > 0) {
    if (appended == 0) return MailboxLimitError(limits_);
    return absl::ResourceExhaustedError(
        absl::StrCat(refused, " of ", total, " mailboxes were not created (--max_mailboxes=",
                     limits_.max_mailboxes, " reached); the others were appended"));
  }
  std::vector<AppendedMessage> result;
  result.reserve(total);
  for (std::optional<AppendedMessage>& message : by_index) {
    if (message.has_value()) result.push_back(*std::move(message));
  }
  return result;
}

absl::StatusOr<ReadResult> RedisMailboxStore::Read(const std::string& client_id,
                                                   const ReadRequest& request, absl::Time now) {
  if (request.open_stream && !FeedLive(PartitionOf(client_id))) {
    return absl::UnavailableError("live notifications from Redis are not subscribed yet");
  }
  std::string mode = "oldest", id_epoch, id_offset = "0";
  if (request.from == ReadRequest::From::kUndelivered) mode = "undelivered";
  if (request.from == ReadRequest::From::kAfterId) {
    mode = "after";
    if (std::optional<MessageId> id = MessageId::Parse(request.after_id); id.has_value()) {
      id_epoch = absl::StrCat(absl::Hex(id->epoch));
      id_offset = std::to_string(id->offset);
    }
  }
  const bool create = request.create && MayCreate();
  const size_t limit = request.limit == SIZE_MAX ? 0 : request.limit + 1;  // one more: `more`
  const int partition = PartitionOf(client_id);
  ASSIGN_OR_RETURN(
      RespValue reply,
      CallFunction("pb1_read", partition,
                   {Millis(now), FencePlaceholder(), client_id, NewEpoch(), create ? "1" : "0",
                    mode, id_epoch, id_offset, std::to_string(limit),
                    request.open_stream ? options_.replica_id : "", Millis(now + options_.lease)}));
  const std::vector<RespValue>& e = reply.elements;
  if (e.empty()) {
    if (request.create) return MailboxLimitError(limits_);
    return absl::NotFoundError(absl::StrCat("no client ", client_id));
  }
  if (e.size() < 4) return absl::InternalError("redis: pb1_read: short reply");
  if (request.open_stream) local_streams_[partition].fetch_add(1, std::memory_order_relaxed);
  ReadResult result;
  result.position = MailboxPosition{ParseEpoch(e[0].text), static_cast<uint64_t>(e[1].integer),
                                    static_cast<uint64_t>(e[2].integer)};
  result.reset = ResetFromName(e[3].text);
  for (size_t i = 4; i < e.size(); ++i) {
    std::optional<Message> message = ParseEntry(e[i].text, result.position.epoch);
    if (!message.has_value()) return absl::DataLossError("redis: pb1_read: malformed entry");
    if (message->expires_at > now) result.messages.push_back(*std::move(message));
  }
  if (request.limit != SIZE_MAX && e.size() - 4 > request.limit) {
    result.more = true;
    result.messages.resize(std::min(result.messages.size(), request.limit));
  }
  if (result.position.first_retained < result.position.next_offset) {
    result.earliest_retained = MessageId{result.position.epoch, result.position.first_retained};
  }
  return result;
}

void RedisMailboxStore::ConfirmDelivered(const std::string& client_id, const MessageId& through) {
  // Gathered and sent once a second, one call per partition: every stream
  // confirms about once a second, which would otherwise be a call each.
  absl::MutexLock lock(&confirms_mu_);
  MessageId& latest = confirms_[PartitionOf(client_id)][client_id];
  if (latest.epoch != through.epoch || latest.offset < through.offset) latest = through;
}

void RedisMailboxStore::FlushConfirmations() {
  std::map<int, std::map<std::string, MessageId>> confirms;
  {
    absl::MutexLock lock(&confirms_mu_);
    confirms.swap(confirms_);
  }
  for (const auto& [partition, clients] : confirms) {
    SlotCommand call = FunctionCall("pb1_confirm", partition, {});
    for (const auto& [client_id, through] : clients) {
      call.args.push_back(client_id);
      call.args.push_back(absl::StrCat(absl::Hex(through.epoch)));
      call.args.push_back(std::to_string(through.offset));
    }
    // Best effort, never waited for: a lost confirmation only repeats
    // messages to a later connection without an id.
    router_->Submit(std::move(call));
  }
}

void RedisMailboxStore::ReleaseStream(const std::string& client_id, absl::Time now) {
  const int partition = PartitionOf(client_id);
  local_streams_[partition].fetch_sub(1, std::memory_order_relaxed);
  // Not waited for: called where streams end, which must not block. A lost
  // release leaves a route that ends with this replica's lease.
  router_->Submit(
      FunctionCall("pb1_release", partition, {Millis(now), client_id, options_.replica_id}));
}

absl::StatusOr<size_t> RedisMailboxStore::CloseRemoteStreams(const std::string& client_id,
                                                             CloseCause cause, uint32_t retry_ms) {
  ASSIGN_OR_RETURN(RespValue reply,
                   CallFunction("pb1_control", PartitionOf(client_id),
                                {Millis(clock_->Now()), client_id,
                                 cause == CloseCause::kClientDeleted ? "deleted" : "disconnected",
                                 std::to_string(retry_ms), options_.replica_id}));
  if (reply.integer < 0) return absl::NotFoundError(absl::StrCat("no client ", client_id));
  return static_cast<size_t>(reply.integer);
}

absl::Status RedisMailboxStore::Touch(const std::string& client_id, absl::Time now, bool create) {
  const bool may_create = create && MayCreate();
  ASSIGN_OR_RETURN(RespValue reply, CallFunction("pb1_touch", PartitionOf(client_id),
                                                 {Millis(now), FencePlaceholder(), client_id,
                                                  NewEpoch(), may_create ? "1" : "0"}));
  if (reply.integer == 1) return absl::OkStatus();
  if (create) return MailboxLimitError(limits_);
  return absl::NotFoundError(absl::StrCat("no client ", client_id));
}

absl::StatusOr<MailboxInfo> RedisMailboxStore::Describe(const std::string& client_id,
                                                        absl::Time now) {
  ASSIGN_OR_RETURN(RespValue reply,
                   CallFunction("pb1_describe", PartitionOf(client_id),
                                {Millis(now), FencePlaceholder(), client_id, NewEpoch()}));
  const std::vector<RespValue>& e = reply.elements;
  if (e.empty()) return absl::NotFoundError(absl::StrCat("no client ", client_id));
  if (e.size() < 6) return absl::InternalError("redis: pb1_describe: short reply");
  const uint64_t epoch = ParseEpoch(e[0].text);
  const uint64_t first = e[1].integer, next = e[2].integer;
  MailboxInfo info;
  info.size = next - first;
  if (first < next) info.first_id = MessageId{epoch, first};
  if (next > 1) info.last_id = MessageId{epoch, next - 1};
  info.last_activity = absl::FromUnixMillis(e[3].integer);
  info.last_seen = e[4].integer > 0 ? absl::FromUnixMillis(e[4].integer) : absl::InfinitePast();
  info.streams = static_cast<size_t>(e[5].integer);
  for (size_t i = 6; i < e.size(); ++i) info.topics.push_back(e[i].text);
  std::sort(info.topics.begin(), info.topics.end());
  return info;
}

absl::StatusOr<std::vector<std::string>> RedisMailboxStore::ListClients() {
  std::vector<SlotCommand> calls;
  for (int partition = 0; partition < kPartitions; ++partition) {
    calls.push_back(PartitionCommand(partition, {"ZRANGE", RegistryKey(partition), "0", "-1"}));
  }
  std::vector<std::string> clients;
  for (const absl::StatusOr<RespValue>& reply : router_->CallAll(std::move(calls))) {
    // A broadcast reaches every mailbox, or fails saying it did not: a
    // retry with its idempotency key completes it exactly once.
    if (absl::Status status = StatusOfReply(reply); !status.ok()) {
      return absl::Status(
          status.code(), absl::StrCat("listing the mailboxes for a broadcast: ", status.message()));
    }
    for (const RespValue& member : reply->elements) clients.push_back(member.text);
  }
  return clients;
}

absl::Status RedisMailboxStore::AddToTopic(const std::string& client_id, const std::string& topic,
                                           absl::Time now) {
  ASSIGN_OR_RETURN(RespValue reply, CallFunction("pb1_topic", PartitionOf(client_id),
                                                 {Millis(now), FencePlaceholder(), client_id,
                                                  NewEpoch(), MayCreate() ? "1" : "0", "add", topic,
                                                  std::to_string(limits_.max_topics_per_client)}));
  if (reply.integer == -1) return MailboxLimitError(limits_);
  if (reply.integer == -2) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "client ", client_id, " is in --max_topics_per_client=", limits_.max_topics_per_client,
        " topics; unsubscribe it from one first"));
  }
  // The member set lives in the topic's own slot: a second call. Repeated
  // on a retry, it is harmless.
  return StatusOfReply(router_->Call(TopicCommand(topic, {"SADD", TopicKey(topic), client_id})));
}

absl::Status RedisMailboxStore::RemoveFromTopic(const std::string& client_id,
                                                const std::string& topic) {
  ASSIGN_OR_RETURN(RespValue reply, CallFunction("pb1_topic", PartitionOf(client_id),
                                                 {Millis(clock_->Now()), FencePlaceholder(),
                                                  client_id, "", "0", "remove", topic, "0"}));
  absl::StatusOr<RespValue> removed =
      router_->Call(TopicCommand(topic, {"SREM", TopicKey(topic), client_id}));
  RETURN_IF_ERROR(StatusOfReply(removed));
  if (reply.integer == 0 && removed->integer == 0) {
    return absl::NotFoundError(absl::StrCat("client ", client_id, " is not in topic ", topic));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> RedisMailboxStore::TopicMembers(const std::string& topic) {
  absl::StatusOr<RespValue> reply =
      router_->Call(TopicCommand(topic, {"SMEMBERS", TopicKey(topic)}));
  RETURN_IF_ERROR(StatusOfReply(reply));
  std::vector<std::string> members;
  for (const RespValue& member : reply->elements) members.push_back(member.text);
  std::sort(members.begin(), members.end());
  return members;
}

void RedisMailboxStore::ForgetTopicMembers(const std::string& client_id,
                                           const std::vector<std::string>& topics) {
  std::vector<SlotCommand> calls;
  for (const std::string& topic : topics) {
    calls.push_back(TopicCommand(topic, {"SREM", TopicKey(topic), client_id}));
  }
  if (!calls.empty()) router_->CallAll(std::move(calls));
}

absl::Status RedisMailboxStore::Delete(const std::string& client_id) {
  ASSIGN_OR_RETURN(RespValue reply,
                   CallFunction("pb1_delete", PartitionOf(client_id),
                                {Millis(clock_->Now()), client_id, options_.replica_id}));
  if (reply.elements.empty()) return absl::NotFoundError(absl::StrCat("no client ", client_id));
  std::vector<std::string> topics;
  for (size_t i = 1; i < reply.elements.size(); ++i) topics.push_back(reply.elements[i].text);
  ForgetTopicMembers(client_id, topics);
  return absl::OkStatus();
}

std::vector<std::string> RedisMailboxStore::ExpireIdle(
    absl::Time now, const std::function<bool(const std::string&)>& /*is_online*/) {
  // Streams are routes in Redis, so the sweep sees every replica's.
  std::vector<SlotCommand> calls;
  for (int partition = 0; partition < kPartitions; ++partition) {
    calls.push_back(
        FunctionCall("pb1_sweep", partition,
                     {Millis(now), std::to_string(absl::ToInt64Milliseconds(retention_.ttl)),
                      std::to_string(kSweepBatch)}));
  }
  std::vector<std::string> removed;
  for (const absl::StatusOr<RespValue>& reply : router_->CallAll(std::move(calls))) {
    if (!StatusOfReply(reply).ok()) continue;  // the next sweep tries again
    for (const RespValue& row : reply->elements) {
      if (row.elements.size() != 2) continue;
      const std::string& client_id = row.elements[0].text;
      const std::string& topics = row.elements[1].text;
      if (!topics.empty()) ForgetTopicMembers(client_id, absl::StrSplit(topics, '\n'));
      removed.push_back(client_id);
    }
  }
  return removed;
}

StoreStats RedisMailboxStore::Stats() {
  absl::MutexLock lock(&stats_mu_);
  return stats_;
}

void RedisMailboxStore::RefreshStats() {
  std::vector<SlotCommand> calls;
  for (int partition = 0; partition < kPartitions; ++partition) {
    const std::string registry = RegistryKey(partition);
    calls.push_back(PartitionCommand(partition, {"ZCARD", registry}));
    calls.push_back(PartitionCommand(
        partition, {"HGETALL", registry.substr(0, registry.size() - 7) + "stats"}));
  }
  std::vector<absl::StatusOr<RespValue>> replies = router_->CallAll(std::move(calls));
  StoreStats stats;
  uint64_t fenced = 0;
  std::map<absl::string_view, uint64_t*> fields = {{"messages", &stats.messages},
                                                   {"bytes", &stats.bytes},
                                                   {"evicted_capacity", &stats.evicted_capacity},
                                                   {"evicted_size", &stats.evicted_size},
                                                   {"expired", &stats.expired},
                                                   {"fenced", &fenced}};
  for (size_t i = 0; i < replies.size(); ++i) {
    if (!replies[i].ok() || replies[i]->is_error()) return;  // keep the last good counts
    if (i % 2 == 0) {
      stats.mailboxes += replies[i]->integer;
      continue;
    }
    const std::vector<RespValue>& e = replies[i]->elements;
    for (size_t f = 0; f + 1 < e.size(); f += 2) {
      int64_t value = 0;
      auto field = fields.find(e[f].text);
      if (field != fields.end() && absl::SimpleAtoi(e[f + 1].text, &value) && value > 0) {
        *field->second += value;
      }
    }
  }
  approx_mailboxes_.store(stats.mailboxes, std::memory_order_relaxed);
  const uint64_t fenced_before = fenced_.exchange(fenced, std::memory_order_relaxed);
  if (stats_refreshed_ && fenced > fenced_before && options_.on_fenced) {
    options_.on_fenced(fenced - fenced_before, fenced);
  }
  stats_refreshed_ = true;
  absl::MutexLock lock(&stats_mu_);
  stats_ = stats;
}

void RedisMailboxStore::RenewLeases(absl::Time now) {
  const std::string expiry = Millis(now + options_.lease);
  for (int partition = 0; partition < kPartitions; ++partition) {
    if (local_streams_[partition].load(std::memory_order_relaxed) <= 0) continue;
    router_->Submit(
        FunctionCall("pb1_lease", partition, {Millis(now), options_.replica_id, expiry}));
  }
}

void RedisMailboxStore::MaintenanceLoop() {
  absl::Time next_lease = absl::Now();
  absl::Time next_stats = absl::Now();
  absl::MutexLock lock(&stop_mu_);
  while (!stopping_) {
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stop_mu_) { return stopping_; };
    if (stop_mu_.AwaitWithTimeout(absl::Condition(&stopping), kTick)) break;
    stop_mu_.Unlock();
    const absl::Time now = absl::Now();
    CheckFeeds(now);
    FlushConfirmations();
    if (now >= next_lease) {
      RenewLeases(clock_->Now());
      next_lease = now + options_.lease / 3;
    }
    if (now >= next_stats) {
      RefreshStats();
      next_stats = now + options_.stats_interval;
    }
    stop_mu_.Lock();
  }
}

}  // namespace pushbroker::redis
