#include "broker/memory_mailbox_store.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "broker/status_macros.h"

namespace pushbroker {

MemoryMailboxStore::MemoryMailboxStore(RetentionPolicy retention, StoreLimits limits)
    : retention_(retention), limits_(limits) {}

MemoryMailboxStore::~MemoryMailboxStore() {
  std::thread evictor;
  {
    absl::MutexLock lock(&evictor_mu_);
    stopping_ = true;
    evictor.swap(evictor_);
  }
  if (evictor.joinable()) evictor.join();
}

void MemoryMailboxStore::SetAppendListener(AppendListener* listener) { listener_ = listener; }

MemoryMailboxStore::Shard& MemoryMailboxStore::ShardFor(const std::string& client_id) {
  return shards_[std::hash<std::string>{}(client_id) % kShards];
}

uint64_t MemoryMailboxStore::NewEpoch() {
  absl::MutexLock lock(&epoch_mu_);
  // 48 bits: short ids, and a collision between incarnations is negligible.
  return absl::Uniform<uint64_t>(epoch_gen_, 1, uint64_t{1} << 48);
}

MemoryMailboxStore::Mailbox* MemoryMailboxStore::GetOrCreate(Shard& shard,
                                                             const std::string& client_id,
                                                             absl::Time now, bool enforce_limit) {
  auto it = shard.mailboxes.find(client_id);
  if (it != shard.mailboxes.end()) return &it->second;
  if (enforce_limit && mailbox_count_.load(std::memory_order_relaxed) >= limits_.max_mailboxes) {
    return nullptr;
  }
  Mailbox& mailbox = shard.mailboxes[client_id];
  mailbox.epoch = NewEpoch();
  mailbox.last_activity = now;
  mailbox_count_.fetch_add(1, std::memory_order_relaxed);
  return &mailbox;
}

absl::Status MemoryMailboxStore::MailboxLimitError() const {
  return absl::ResourceExhaustedError(
      absl::StrCat("the broker holds --max_mailboxes=", limits_.max_mailboxes,
                   " mailboxes; delete clients or raise the limit"));
}

void MemoryMailboxStore::PopFront(Mailbox& mailbox, std::atomic<uint64_t>& reason) {
  const size_t bytes = MessageBytes(*mailbox.messages.front().payload);
  mailbox.messages.pop_front();
  mailbox.bytes -= bytes;
  total_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  reason.fetch_add(1, std::memory_order_relaxed);
}

void MemoryMailboxStore::DropExpiredFront(Mailbox& mailbox, absl::Time now) {
  while (!mailbox.messages.empty() && mailbox.messages.front().expires_at <= now) {
    PopFront(mailbox, expired_);
  }
}

void MemoryMailboxStore::EraseMailbox(Shard& shard,
                                      std::unordered_map<std::string, Mailbox>::iterator it) {
  total_bytes_.fetch_sub(it->second.bytes, std::memory_order_relaxed);
  mailbox_count_.fetch_sub(1, std::memory_order_relaxed);
  shard.mailboxes.erase(it);
}

MailboxPosition MemoryMailboxStore::PositionOf(const Mailbox& mailbox) {
  MailboxPosition position;
  position.epoch = mailbox.epoch;
  position.next_offset = mailbox.next_offset;
  position.first_retained =
      mailbox.messages.empty() ? mailbox.next_offset : mailbox.messages.front().id.offset;
  return position;
}

absl::StatusOr<std::vector<AppendedMessage>> MemoryMailboxStore::Append(
    absl::Span<const std::string> client_ids, std::shared_ptr<const Payload> payload,
    absl::Time now, absl::Time expires_at, absl::string_view /*idempotency_key*/) {
  expires_at = std::min(expires_at, now + retention_.ttl);
  // The mailbox limit is checked for the whole publish first, so a publish
  // is refused whole rather than reaching some of its clients.
  size_t missing = 0;
  for (const std::string& client_id : client_ids) {
    Shard& shard = ShardFor(client_id);
    absl::MutexLock lock(&shard.mu);
    missing += shard.mailboxes.count(client_id) == 0 ? 1 : 0;
  }
  if (missing > 0 &&
      mailbox_count_.load(std::memory_order_relaxed) + missing > limits_.max_mailboxes) {
    return MailboxLimitError();
  }
  const size_t bytes = MessageBytes(*payload);
  constexpr uint64_t kHeavyPublishBytes = 32 * 1024;
  const bool heavy = uint64_t{bytes} * client_ids.size() >= kHeavyPublishBytes;
  std::vector<AppendedMessage> appended;
  appended.reserve(client_ids.size());
  FanoutBatch fanout;  // wakes the streams' loops as it fills, and the rest below
  for (size_t i = 0; i < client_ids.size(); ++i) {
    // A heavy publish past the budget goes at the evictor's pace; a light
    // one never waits.
    if (heavy && i % 1024 == 0 && total_bytes_.load(std::memory_order_relaxed) > HardCeiling()) {
      AwaitRoom();
    }
    const std::string& client_id = client_ids[i];
    Shard& shard = ShardFor(client_id);
    absl::MutexLock lock(&shard.mu);
    Mailbox& mailbox = *GetOrCreate(shard, client_id, now, /*enforce_limit=*/false);
    DropExpiredFront(mailbox, now);
    Message message{MessageId{mailbox.epoch, mailbox.next_offset++}, payload, now, expires_at};
    mailbox.messages.push_back(message);
    mailbox.bytes += bytes;
    total_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    while (mailbox.messages.size() > retention_.max_messages) PopFront(mailbox, evicted_capacity_);
    while (mailbox.bytes > retention_.max_bytes && mailbox.messages.size() > 1) {
      PopFront(mailbox, evicted_size_);
    }
    mailbox.last_activity = now;
    size_t streams = listener_ != nullptr ? listener_->OnAppended(client_id, message, fanout) : 0;
    appended.push_back(AppendedMessage{client_id, message.id, streams});
  }
  fanout.Flush();  // no lock held
  if (total_bytes_.load(std::memory_order_relaxed) > retention_.memory_budget_bytes) WakeEvictor();
  return appended;
}

absl::StatusOr<ReadResult> MemoryMailboxStore::Read(const std::string& client_id,
                                                    const ReadRequest& request, absl::Time now) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.mailboxes.find(client_id);
  if (it == shard.mailboxes.end() && !request.create) {
    return absl::NotFoundError(absl::StrCat("no client ", client_id));
  }
  Mailbox* found = GetOrCreate(shard, client_id, now);
  if (found == nullptr) return MailboxLimitError();
  Mailbox& mailbox = *found;
  DropExpiredFront(mailbox, now);

  ReadResult result;
  result.position = PositionOf(mailbox);
  if (!mailbox.messages.empty()) result.earliest_retained = mailbox.messages.front().id;

  uint64_t from = result.position.first_retained;
  switch (request.from) {
    case ReadRequest::From::kOldestRetained:
      break;
    case ReadRequest::From::kUndelivered:
      from = std::max(from, mailbox.delivered_through + 1);
      break;
    case ReadRequest::From::kAfterId: {
      ReplayStart start = ResolveReplay(result.position, request.after_id);
      from = start.from_offset;
      result.reset = start.reset;
      break;
    }
  }

  const uint64_t front = result.position.first_retained;
  size_t index = from > front ? static_cast<size_t>(from - front) : 0;
  for (; index < mailbox.messages.size(); ++index) {
    const Message& message = mailbox.messages[index];
    if (message.expires_at <= now) continue;
    if (result.messages.size() >= request.limit) {
      result.more = true;
      break;
    }
    result.messages.push_back(message);
  }
  return result;
}

void MemoryMailboxStore::ConfirmDelivered(const std::string& client_id, const MessageId& through) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.mailboxes.find(client_id);
  if (it == shard.mailboxes.end()) return;
  Mailbox& mailbox = it->second;
  if (through.epoch != mailbox.epoch || through.offset >= mailbox.next_offset) return;
  mailbox.delivered_through = std::max(mailbox.delivered_through, through.offset);
}

absl::Status MemoryMailboxStore::Touch(const std::string& client_id, absl::Time now, bool create) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  if (!create && shard.mailboxes.count(client_id) == 0) {
    return absl::NotFoundError(absl::StrCat("no client ", client_id));
  }
  Mailbox* mailbox = GetOrCreate(shard, client_id, now);
  if (mailbox == nullptr) return MailboxLimitError();
  mailbox->last_activity = now;
  return absl::OkStatus();
}

void MemoryMailboxStore::ReleaseStream(const std::string& client_id, absl::Time now) {
  // A deleted client stays deleted.
  (void)Touch(client_id, now, /*create=*/false);
}

absl::StatusOr<size_t> MemoryMailboxStore::CloseRemoteStreams(const std::string& client_id,
                                                              CloseCause /*cause*/,
                                                              uint32_t /*retry_ms*/) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  if (shard.mailboxes.count(client_id) == 0) {
    return absl::NotFoundError(absl::StrCat("no client ", client_id));
  }
  return 0;  // this process holds all of its streams
}

absl::StatusOr<MailboxInfo> MemoryMailboxStore::Describe(const std::string& client_id,
                                                         absl::Time now) {
  MailboxInfo info;
  {
    Shard& shard = ShardFor(client_id);
    absl::MutexLock lock(&shard.mu);
    auto it = shard.mailboxes.find(client_id);
    if (it == shard.mailboxes.end()) {
      return absl::NotFoundError(absl::StrCat("no client ", client_id));
    }
    Mailbox& mailbox = it->second;
    DropExpiredFront(mailbox, now);
    for (size_t i = 0; i < mailbox.messages.size(); ++i) {
      if (mailbox.messages[i].expires_at > now) ++info.size;
    }
    if (!mailbox.messages.empty()) info.first_id = mailbox.messages.front().id;
    if (mailbox.next_offset > 1) info.last_id = MessageId{mailbox.epoch, mailbox.next_offset - 1};
    info.last_activity = mailbox.last_activity;
  }
  absl::MutexLock lock(&topics_mu_);
  auto topics = client_topics_.find(client_id);
  if (topics != client_topics_.end()) {
    info.topics.assign(topics->second.begin(), topics->second.end());
  }
  return info;
}

absl::StatusOr<std::vector<std::string>> MemoryMailboxStore::ListClients() {
  std::vector<std::string> clients;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    for (const auto& [client_id, mailbox] : shard.mailboxes) clients.push_back(client_id);
  }
  return clients;
}

absl::Status MemoryMailboxStore::AddToTopic(const std::string& client_id, const std::string& topic,
                                            absl::Time now) {
  auto check_room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(topics_mu_) -> absl::Status {
    auto topics = client_topics_.find(client_id);
    if (topics == client_topics_.end() || topics->second.count(topic) > 0 ||
        topics->second.size() < limits_.max_topics_per_client) {
      return absl::OkStatus();
    }
    return absl::ResourceExhaustedError(absl::StrCat(
        "client ", client_id, " is in --max_topics_per_client=", limits_.max_topics_per_client,
        " topics; unsubscribe it from one first"));
  };
  {
    absl::MutexLock lock(&topics_mu_);
    RETURN_IF_ERROR(check_room());
  }
  RETURN_IF_ERROR(Touch(client_id, now, /*create=*/true));
  absl::MutexLock lock(&topics_mu_);
  RETURN_IF_ERROR(check_room());  // a concurrent subscribe may have taken the room
  topic_members_[topic].insert(client_id);
  client_topics_[client_id].insert(topic);
  return absl::OkStatus();
}

absl::Status MemoryMailboxStore::RemoveFromTopic(const std::string& client_id,
                                                 const std::string& topic) {
  absl::MutexLock lock(&topics_mu_);
  auto members = topic_members_.find(topic);
  if (members == topic_members_.end() || members->second.erase(client_id) == 0) {
    return absl::NotFoundError(absl::StrCat("client ", client_id, " is not in topic ", topic));
  }
  if (members->second.empty()) topic_members_.erase(members);
  auto topics = client_topics_.find(client_id);
  if (topics != client_topics_.end()) {
    topics->second.erase(topic);
    if (topics->second.empty()) client_topics_.erase(topics);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> MemoryMailboxStore::TopicMembers(
    const std::string& topic) {
  absl::MutexLock lock(&topics_mu_);
  auto members = topic_members_.find(topic);
  if (members == topic_members_.end()) return std::vector<std::string>();
  return std::vector<std::string>(members->second.begin(), members->second.end());
}

void MemoryMailboxStore::ForgetTopics(const std::string& client_id) {
  absl::MutexLock lock(&topics_mu_);
  auto topics = client_topics_.find(client_id);
  if (topics == client_topics_.end()) return;
  for (const std::string& topic : topics->second) {
    auto members = topic_members_.find(topic);
    if (members == topic_members_.end()) continue;
    members->second.erase(client_id);
    if (members->second.empty()) topic_members_.erase(members);
  }
  client_topics_.erase(topics);
}

absl::Status MemoryMailboxStore::Delete(const std::string& client_id) {
  {
    Shard& shard = ShardFor(client_id);
    absl::MutexLock lock(&shard.mu);
    auto it = shard.mailboxes.find(client_id);
    if (it == shard.mailboxes.end()) {
      return absl::NotFoundError(absl::StrCat("no client ", client_id));
    }
    EraseMailbox(shard, it);
  }
  ForgetTopics(client_id);
  return absl::OkStatus();
}

std::vector<std::string> MemoryMailboxStore::ExpireIdle(
    absl::Time now, const std::function<bool(const std::string&)>& is_online) {
  std::vector<std::string> removed;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    for (auto it = shard.mailboxes.begin(); it != shard.mailboxes.end();) {
      Mailbox& mailbox = it->second;
      DropExpiredFront(mailbox, now);
      const bool idle = mailbox.last_activity + retention_.ttl <= now;
      if (idle && !is_online(it->first)) {
        removed.push_back(it->first);
        EraseMailbox(shard, it++);
      } else {
        ++it;
      }
    }
  }
  for (const std::string& client_id : removed) ForgetTopics(client_id);
  return removed;
}

void MemoryMailboxStore::WakeEvictor() {
  absl::MutexLock lock(&evictor_mu_);
  if (stopping_) return;
  evictor_wanted_ = true;
  if (!evictor_.joinable()) evictor_ = std::thread([this] { EvictorLoop(); });
}

void MemoryMailboxStore::AwaitRoom() {
  WakeEvictor();
  absl::MutexLock lock(&evictor_mu_);
  ++room_waiters_;
  auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(evictor_mu_) {
    return stopping_ || total_bytes_.load(std::memory_order_relaxed) <= HardCeiling();
  };
  // Bounded: should the evictor find nothing to evict, publishing goes on.
  evictor_mu_.AwaitWithTimeout(absl::Condition(&room), absl::Seconds(1));
  --room_waiters_;
}

bool MemoryMailboxStore::AwaitEvictionForTesting(absl::Duration timeout) {
  absl::MutexLock lock(&evictor_mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(evictor_mu_) {
    return !evictor_wanted_ && !evictor_busy_;
  };
  return evictor_mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

void MemoryMailboxStore::EvictorLoop() {
  absl::MutexLock lock(&evictor_mu_);
  while (true) {
    auto wanted = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(evictor_mu_) {
      return evictor_wanted_ || stopping_;
    };
    evictor_mu_.Await(absl::Condition(&wanted));
    if (stopping_) return;
    evictor_wanted_ = false;
    evictor_busy_ = true;
    evictor_mu_.Unlock();
    EvictToTarget();
    evictor_mu_.Lock();
    evictor_busy_ = false;
    ++evictions_done_;
  }
}

namespace {

// The largest level L such that trimming every size above L down to L frees
// at least `needed` bytes. `sizes` is sorted largest first.
uint64_t EvictionLevel(const std::vector<uint64_t>& sizes, uint64_t needed) {
  // freed(L) = sum over sizes above L of (size - L); it falls as L rises.
  auto freed = [&sizes](uint64_t level) {
    uint64_t sum = 0;
    for (uint64_t size : sizes) {
      if (size <= level) break;
      sum += size - level;
    }
    return sum;
  };
  uint64_t low = 0;
  uint64_t high = sizes.empty() ? 0 : sizes.front();
  if (freed(low) < needed) return 0;  // everything goes, and still not enough
  while (low < high) {
    const uint64_t middle = low + (high - low + 1) / 2;
    if (freed(middle) >= needed) {
      low = middle;
    } else {
      high = middle - 1;
    }
  }
  return low;
}

}  // namespace

void MemoryMailboxStore::EvictToTarget() {
  const uint64_t budget = retention_.memory_budget_bytes;
  // A little under the budget, so the evictor does not run for every append
  // once the budget is reached; further while a large publish waits for
  // room, so it waits for fewer rounds.
  bool inflow;
  {
    absl::MutexLock lock(&evictor_mu_);
    inflow = room_waiters_ > 0;
  }
  const uint64_t target = budget - budget / (inflow ? 8 : 64);
  while (total_bytes_.load(std::memory_order_relaxed) > budget) {
    // Pass 1: every mailbox's size, one shard lock at a time.
    std::vector<uint64_t> sizes;
    sizes.reserve(mailbox_count_.load(std::memory_order_relaxed));
    for (Shard& shard : shards_) {
      absl::MutexLock lock(&shard.mu);
      for (const auto& [client_id, mailbox] : shard.mailboxes) {
        if (mailbox.bytes > 0) sizes.push_back(mailbox.bytes);
      }
    }
    std::sort(sizes.begin(), sizes.end(), std::greater<uint64_t>());
    const uint64_t total = total_bytes_.load(std::memory_order_relaxed);
    if (total <= target) return;
    const uint64_t level = EvictionLevel(sizes, total - target);
    // Pass 2: trim each mailbox above the level to the smallest size it can
    // keep at or above it, oldest messages first. Pass 3: as messages cannot
    // be split, take one more from each of those until the total is at the
    // target. Each holds one shard lock at a time, so a publish waits for
    // one shard's trim at most.
    for (const bool to_level : {false, true}) {
      for (Shard& shard : shards_) {
        if (total_bytes_.load(std::memory_order_relaxed) <= target) break;
        {
          absl::MutexLock lock(&shard.mu);
          for (auto& [client_id, mailbox] : shard.mailboxes) {
            if (to_level) {
              if (mailbox.bytes > level && !mailbox.messages.empty() &&
                  total_bytes_.load(std::memory_order_relaxed) > target) {
                PopFront(mailbox, evicted_budget_);
              }
              continue;
            }
            while (!mailbox.messages.empty() &&
                   mailbox.bytes - MessageBytes(*mailbox.messages.front().payload) >= level &&
                   mailbox.bytes > level) {
              PopFront(mailbox, evicted_budget_);
            }
          }
        }
        // Publishers waiting for room look again.
        absl::MutexLock lock(&evictor_mu_);
        ++evictions_done_;
      }
    }
    if (level == 0) return;  // nothing more can go
  }
}

StoreStats MemoryMailboxStore::Stats() {
  StoreStats stats;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    stats.mailboxes += shard.mailboxes.size();
    for (const auto& [client_id, mailbox] : shard.mailboxes)
      stats.messages += mailbox.messages.size();
  }
  stats.bytes = total_bytes_.load(std::memory_order_relaxed);
  stats.evicted_capacity = evicted_capacity_.load(std::memory_order_relaxed);
  stats.evicted_size = evicted_size_.load(std::memory_order_relaxed);
  stats.evicted_budget = evicted_budget_.load(std::memory_order_relaxed);
  stats.expired = expired_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace pushbroker
