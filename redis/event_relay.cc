#include "redis/event_relay.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "redis/key_slots.h"

namespace pushbroker::redis {
namespace {

constexpr char kStream[] = "pb:{events}:log";
constexpr char kWants[] = "pb:{events}:wants";

uint32_t ParseUint32(const std::string& text) {
  uint32_t value = 0;
  return absl::SimpleAtoi(text, &value) ? value : 0;
}

// One stream entry ([id, [field, value, ...]]) as an event; false when it
// is not one.
bool DecodeEntry(const RespValue& entry, BrokerEvent* event) {
  if (entry.elements.size() != 2) return false;
  uint32_t kind = kEventKindCount;
  int64_t micros = 0;
  const auto& fields = entry.elements[1].elements;
  for (size_t i = 0; i + 1 < fields.size(); i += 2) {
    const std::string& name = fields[i].text;
    const std::string& value = fields[i + 1].text;
    if (name == "r") event->replica = value;
    if (name == "k") kind = ParseUint32(value);
    if (name == "c") event->client_id = value;
    if (name == "t") (void)absl::SimpleAtoi(value, &micros);
    if (name == "m") event->message_id = value;
    if (name == "e") event->event = value;
    if (name == "d") event->data = value;
    if (name == "s") event->streams = ParseUint32(value);
    if (name == "x") event->transport = value;
    if (name == "w") event->reason = value;
  }
  if (kind >= kEventKindCount) return false;
  event->kind = static_cast<EventKind>(kind);
  event->at = absl::FromUnixMicros(micros);
  return true;
}

// The entries of an XREADGROUP / XREAD reply for the one stream read.
const RespValue* EntriesOf(const RespValue& reply) {
  if (reply.type != RespValue::Type::kArray || reply.elements.empty()) return nullptr;
  const RespValue& stream = reply.elements[0];
  return stream.elements.size() == 2 ? &stream.elements[1] : nullptr;
}

}  // namespace

RedisEventRelay::RedisEventRelay(EventRelayOptions options, RedisRouter* router,
                                 std::function<EventKindSet()> local_wants, Deliver deliver,
                                 RelayGroups groups)
    : options_(std::move(options)),
      router_(router),
      local_wants_(std::move(local_wants)),
      deliver_(std::move(deliver)),
      groups_(std::move(groups)),
      slot_(HashSlot(kStream)) {}

void RedisEventRelay::Start() {
  thread_ = std::thread([this] { Run(); });
}

void RedisEventRelay::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void RedisEventRelay::Publish(const BrokerEvent& event) {
  out_.fetch_add(1, std::memory_order_relaxed);
  router_->Submit(SlotCommand{slot_,
                              {"XADD",
                               kStream,
                               "MAXLEN",
                               "~",
                               absl::StrCat(options_.max_len),
                               "*",
                               "r",
                               event.replica,
                               "k",
                               absl::StrCat(static_cast<int>(event.kind)),
                               "c",
                               event.client_id,
                               "t",
                               absl::StrCat(absl::ToUnixMicros(event.at)),
                               "m",
                               event.message_id,
                               "e",
                               event.event,
                               "d",
                               event.data,
                               "s",
                               absl::StrCat(event.streams),
                               "x",
                               event.transport,
                               "w",
                               event.reason}});
}

void RedisEventRelay::ExchangeWants(absl::Time now) {
  const std::string mine =
      absl::StrCat(local_wants_().bits(), "|", absl::ToUnixMillis(now + 20 * options_.wants_every));
  router_->Submit(SlotCommand{slot_, {"HSET", kWants, options_.replica, mine}});
  absl::StatusOr<RespValue> all = router_->Call(SlotCommand{slot_, {"HGETALL", kWants}});
  if (!all.ok() || all->type != RespValue::Type::kArray) return;
  uint32_t wants = 0;
  std::vector<std::string> expired;
  for (size_t i = 0; i + 1 < all->elements.size(); i += 2) {
    const std::string& replica = all->elements[i].text;
    std::vector<std::string> parts = absl::StrSplit(all->elements[i + 1].text, '|');
    int64_t expiry = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &expiry) ||
        expiry < absl::ToUnixMillis(now)) {
      expired.push_back(replica);  // a replica that went away
      continue;
    }
    if (replica != options_.replica) wants |= ParseUint32(parts[0]);
  }
  fleet_wants_.store(wants, std::memory_order_relaxed);
  if (!expired.empty()) {
    std::vector<std::string> args = {"HDEL", kWants};
    args.insert(args.end(), expired.begin(), expired.end());
    router_->Submit(SlotCommand{slot_, std::move(args)});
  }
}

void RedisEventRelay::ReadNew() {
  if (last_id_.empty()) {
    // Start after the newest entry: events from before this process are
    // not relayed.
    absl::StatusOr<RespValue> newest =
        router_->Call(SlotCommand{slot_, {"XREVRANGE", kStream, "+", "-", "COUNT", "1"}});
    if (!newest.ok() || newest->type != RespValue::Type::kArray) return;
    last_id_ = newest->elements.empty() || newest->elements[0].elements.empty()
                   ? "0-0"
                   : newest->elements[0].elements[0].text;
  }
  absl::StatusOr<RespValue> read =
      router_->Call(SlotCommand{slot_, {"XREAD", "COUNT", "1000", "STREAMS", kStream, last_id_}});
  // nil: nothing new. [[stream, [[id, [field, value, ...]], ...]]]
  if (!read.ok()) return;
  const RespValue* entries = EntriesOf(*read);
  if (entries == nullptr) return;
  for (const RespValue& entry : entries->elements) {
    if (entry.elements.size() != 2) continue;
    last_id_ = entry.elements[0].text;
    BrokerEvent event;
    if (!DecodeEntry(entry, &event) || event.replica == options_.replica) continue;
    in_.fetch_add(1, std::memory_order_relaxed);
    deliver_(std::move(event));
  }
}

void RedisEventRelay::Ack(const std::string& group, const std::string& entry_id) {
  router_->Submit(SlotCommand{slot_, {"XACK", kStream, group, entry_id}});
}

void RedisEventRelay::FeedEntries(const WatchHub::GroupSpec& group, const RespValue& entries) {
  for (const RespValue& entry : entries.elements) {
    BrokerEvent event;
    if (entry.elements.size() != 2) continue;
    const std::string& id = entry.elements[0].text;
    // Not this group's kind or client: acknowledged at once, so nobody
    // claims it later.
    if (!DecodeEntry(entry, &event) || !WatchHub::Matches(group.kinds, group.client_id, event)) {
      Ack(group.name, id);
      continue;
    }
    // No member any more: the entry stays pending, and another replica's
    // member claims it after the ack timeout.
    (void)groups_.feed(group.name, std::move(event), id);
  }
}

void RedisEventRelay::ReadGroups(absl::Time now) {
  if (!groups_.local) return;
  const bool claim = now >= next_claim_;
  if (claim) next_claim_ = now + options_.ack_timeout / 2;
  for (const WatchHub::GroupSpec& group : groups_.local()) {
    if (!created_groups_.count(group.name)) {
      // From the stream's end: a new group hears what happens from now on.
      absl::StatusOr<RespValue> created = router_->Call(
          SlotCommand{slot_, {"XGROUP", "CREATE", kStream, group.name, "$", "MKSTREAM"}});
      if (!created.ok()) continue;
      if (created->is_error() && created->error_kind() != "BUSYGROUP") continue;
      created_groups_.insert(group.name);
    }
    absl::StatusOr<RespValue> read =
        router_->Call(SlotCommand{slot_,
                                  {"XREADGROUP", "GROUP", group.name, options_.replica, "COUNT",
                                   "256", "STREAMS", kStream, ">"}});
    if (read.ok() && read->is_error() && read->error_kind() == "NOGROUP") {
      created_groups_.erase(group.name);  // the stream was deleted: create it again
      continue;
    }
    if (read.ok()) {
      if (const RespValue* entries = EntriesOf(*read)) FeedEntries(group, *entries);
    }
    if (!claim) continue;
    // What a member elsewhere took and never confirmed (its replica went
    // away): this replica's members take it over.
    absl::StatusOr<RespValue> claimed = router_->Call(SlotCommand{
        slot_,
        {"XAUTOCLAIM", kStream, group.name, options_.replica,
         absl::StrCat(absl::ToInt64Milliseconds(options_.ack_timeout)), "0-0", "COUNT", "256"}});
    // [next start, [[id, fields], ...], [deleted ids]]
    if (claimed.ok() && claimed->type == RespValue::Type::kArray && claimed->elements.size() >= 2) {
      FeedEntries(group, claimed->elements[1]);
    }
  }
}

void RedisEventRelay::Run() {
  absl::Time next_wants = absl::InfinitePast();
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.Unlock();
    const absl::Time now = absl::Now();
    if (now >= next_wants || advertise_now_.exchange(false)) {
      ExchangeWants(now);
      next_wants = now + options_.wants_every;
    }
    ReadNew();
    ReadGroups(now);
    mu_.Lock();
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.poll_interval);
  }
}

}  // namespace pushbroker::redis
