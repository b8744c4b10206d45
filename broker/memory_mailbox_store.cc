#include "broker/memory_mailbox_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "broker/status_macros.h"

namespace pushbroker {

MemoryMailboxStore::MemoryMailboxStore(RetentionPolicy retention) : retention_(retention) {}

void MemoryMailboxStore::SetAppendListener(AppendListener* listener) { listener_ = listener; }

MemoryMailboxStore::Shard& MemoryMailboxStore::ShardFor(const std::string& client_id) {
  return shards_[std::hash<std::string>{}(client_id) % kShards];
}

uint64_t MemoryMailboxStore::NewEpoch() {
  absl::MutexLock lock(&epoch_mu_);
  // 48 bits: short ids, and a collision between incarnations is negligible.
  return absl::Uniform<uint64_t>(epoch_gen_, 1, uint64_t{1} << 48);
}

MemoryMailboxStore::Mailbox& MemoryMailboxStore::GetOrCreate(Shard& shard,
                                                            const std::string& client_id,
                                                            absl::Time now) {
  auto [it, inserted] = shard.mailboxes.try_emplace(client_id);
  if (inserted) {
    it->second.epoch = NewEpoch();
    it->second.last_activity = now;
  }
  return it->second;
}

void MemoryMailboxStore::DropExpiredFront(Mailbox& mailbox, absl::Time now) {
  while (!mailbox.messages.empty() && mailbox.messages.front().expires_at <= now) {
    mailbox.messages.pop_front();
    expired_.fetch_add(1, std::memory_order_relaxed);
  }
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
    absl::Time now, absl::Time expires_at) {
  expires_at = std::min(expires_at, now + retention_.ttl);
  std::vector<AppendedMessage> appended;
  appended.reserve(client_ids.size());
  for (const std::string& client_id : client_ids) {
    Shard& shard = ShardFor(client_id);
    absl::MutexLock lock(&shard.mu);
    Mailbox& mailbox = GetOrCreate(shard, client_id, now);
    DropExpiredFront(mailbox, now);
    Message message{MessageId{mailbox.epoch, mailbox.next_offset++}, payload, now, expires_at};
    mailbox.messages.push_back(message);
    while (mailbox.messages.size() > retention_.max_messages) {
      mailbox.messages.pop_front();
      evicted_capacity_.fetch_add(1, std::memory_order_relaxed);
    }
    mailbox.last_activity = now;
    size_t streams = listener_ != nullptr ? listener_->OnAppended(client_id, message) : 0;
    if (streams > 0) mailbox.delivered_through = message.id.offset;
    appended.push_back(AppendedMessage{client_id, message.id, streams});
  }
  return appended;
}

absl::StatusOr<ReadResult> MemoryMailboxStore::Read(const std::string& client_id,
                                                    const ReadRequest& request, absl::Time now) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.mailboxes.find(client_id);
  if (it == shard.mailboxes.end()) {
    if (!request.create) return absl::NotFoundError(absl::StrCat("no client ", client_id));
    GetOrCreate(shard, client_id, now);
    it = shard.mailboxes.find(client_id);
  }
  Mailbox& mailbox = it->second;
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
  if (request.mark_delivered) {
    const uint64_t through =
        result.more ? result.messages.back().id.offset : mailbox.next_offset - 1;
    mailbox.delivered_through = std::max(mailbox.delivered_through, through);
  }
  return result;
}

absl::Status MemoryMailboxStore::Touch(const std::string& client_id, absl::Time now,
                                       bool create) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  if (!create && shard.mailboxes.count(client_id) == 0) {
    return absl::NotFoundError(absl::StrCat("no client ", client_id));
  }
  GetOrCreate(shard, client_id, now).last_activity = now;
  return absl::OkStatus();
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
    for (const Message& message : mailbox.messages) {
      if (message.expires_at > now) ++info.size;
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

std::vector<std::string> MemoryMailboxStore::ListClients() {
  std::vector<std::string> clients;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    for (const auto& [client_id, mailbox] : shard.mailboxes) clients.push_back(client_id);
  }
  return clients;
}

absl::Status MemoryMailboxStore::AddToTopic(const std::string& client_id,
                                            const std::string& topic, absl::Time now) {
  RETURN_IF_ERROR(Touch(client_id, now, /*create=*/true));
  absl::MutexLock lock(&topics_mu_);
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

std::vector<std::string> MemoryMailboxStore::TopicMembers(const std::string& topic) {
  absl::MutexLock lock(&topics_mu_);
  auto members = topic_members_.find(topic);
  if (members == topic_members_.end()) return {};
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
    if (shard.mailboxes.erase(client_id) == 0) {
      return absl::NotFoundError(absl::StrCat("no client ", client_id));
    }
  }
  ForgetTopics(client_id);
  return absl::OkStatus();
}

size_t MemoryMailboxStore::ExpireIdle(absl::Time now,
                                      const std::function<bool(const std::string&)>& is_online) {
  std::vector<std::string> removed;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    for (auto it = shard.mailboxes.begin(); it != shard.mailboxes.end();) {
      Mailbox& mailbox = it->second;
      DropExpiredFront(mailbox, now);
      const bool idle = mailbox.last_activity + retention_.ttl <= now;
      if (idle && !is_online(it->first)) {
        removed.push_back(it->first);
        it = shard.mailboxes.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const std::string& client_id : removed) ForgetTopics(client_id);
  return removed.size();
}

StoreStats MemoryMailboxStore::Stats() {
  StoreStats stats;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    stats.mailboxes += shard.mailboxes.size();
    for (const auto& [client_id, mailbox] : shard.mailboxes) stats.messages += mailbox.messages.size();
  }
  stats.evicted_capacity = evicted_capacity_.load(std::memory_order_relaxed);
  stats.expired = expired_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace pushbroker
