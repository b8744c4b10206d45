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

}  // namespace

RedisEventRelay::RedisEventRelay(EventRelayOptions options, RedisRouter* router,
                                 std::function<EventKindSet()> local_wants, Deliver deliver)
    : options_(std::move(options)),
      router_(router),
      local_wants_(std::move(local_wants)),
      deliver_(std::move(deliver)),
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
  if (!read.ok() || read->type != RespValue::Type::kArray || read->elements.empty()) return;
  const RespValue& entries =
      read->elements[0].elements.size() == 2 ? read->elements[0].elements[1] : RespValue{};
  for (const RespValue& entry : entries.elements) {
    if (entry.elements.size() != 2) continue;
    last_id_ = entry.elements[0].text;
    BrokerEvent event;
    uint32_t kind = 0;
    int64_t micros = 0;
    const auto& fields = entry.elements[1].elements;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      const std::string& name = fields[i].text;
      const std::string& value = fields[i + 1].text;
      if (name == "r") event.replica = value;
      if (name == "k") kind = ParseUint32(value);
      if (name == "c") event.client_id = value;
      if (name == "t") (void)absl::SimpleAtoi(value, &micros);
      if (name == "m") event.message_id = value;
      if (name == "e") event.event = value;
      if (name == "d") event.data = value;
      if (name == "s") event.streams = ParseUint32(value);
      if (name == "x") event.transport = value;
      if (name == "w") event.reason = value;
    }
    if (event.replica == options_.replica || kind >= kEventKindCount) continue;
    event.kind = static_cast<EventKind>(kind);
    event.at = absl::FromUnixMicros(micros);
    in_.fetch_add(1, std::memory_order_relaxed);
    deliver_(std::move(event));
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
    mu_.Lock();
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.poll_interval);
  }
}

}  // namespace pushbroker::redis
