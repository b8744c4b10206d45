#include "redis/live_feed.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "redis/functions.h"
#include "redis/notification.h"

namespace pushbroker::redis {

absl::StatusOr<std::unique_ptr<LiveFeed>> LiveFeed::Start(LiveFeedOptions options) {
  std::unique_ptr<LiveFeed> feed(new LiveFeed(std::move(options)));
  RedisClientOptions client =
      KeptConnection(feed->options_.address, feed->options_.password, feed->options_.io_timeout,
                     absl::StrCat("push-broker-feed-", feed->options_.replica_id));
  LiveFeed* raw = feed.get();
  client.on_ready = [raw](RedisClient& client) { raw->OnReady(client); };
  client.on_lost = [raw](absl::string_view) { raw->OnLost(); };
  client.on_push = [raw](RespValue push) { raw->OnPush(std::move(push)); };
  absl::StatusOr<std::unique_ptr<RedisClient>> started = RedisClient::Start(std::move(client));
  if (!started.ok()) return started.status();
  feed->client_ = *std::move(started);
  return feed;
}

LiveFeed::LiveFeed(LiveFeedOptions options)
    : options_(std::move(options)),
      counters_(options_.counters != nullptr ? options_.counters : &own_counters_) {}

LiveFeed::~LiveFeed() { client_.reset(); }  // joins the I/O thread before members go

bool LiveFeed::LiveLocked() const {
  return ready_ && assigned_.any() && (assigned_ & ~subscribed_).none();
}

bool LiveFeed::live() const {
  absl::MutexLock lock(&mu_);
  return LiveLocked();
}

bool LiveFeed::live(int partition) const {
  absl::MutexLock lock(&mu_);
  return ready_ && subscribed_.test(partition);
}

void LiveFeed::Subscribe(int partition, uint64_t generation) {
  RedisClient* client = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (!ready_ || generation != generation_) return;
    client = io_client_;
    ++outstanding_;
  }
  // One channel per command: channels of two slots in one SSUBSCRIBE are
  // refused (CROSSSLOT).
  client->Submit({"SSUBSCRIBE", ReplicaChannel(partition, options_.replica_id)},
                 [this, partition, generation](absl::StatusOr<RespValue> reply) {
                   OnSubscribed(partition, generation, reply);
                 });
}

void LiveFeed::OnSubscribed(int partition, uint64_t generation,
                            const absl::StatusOr<RespValue>& reply) {
  Partitions resync;
  bool moved = false;
  {
    absl::MutexLock lock(&mu_);
    if (generation != generation_) return;  // of a connection since lost
    --outstanding_;
    if (reply.ok() && !reply->is_error()) {
      if (!subscribed_.test(partition)) last_seq_[partition] = 0;
      subscribed_.set(partition);
      ever_subscribed_.set(partition);
      if (resync_after_.test(partition)) {
        resync_after_.reset(partition);
        to_resync_.set(partition);
      }
    } else if (reply.ok()) {
      moved = true;  // MOVED: another node serves the slot now
    }
    if (outstanding_ == 0) {
      // Anything published while these were not subscribed is in the
      // mailboxes: streams that were open resume from there.
      resync = to_resync_;
      to_resync_.reset();
      if (LiveLocked() && counted_generation_ != generation_) {
        counted_generation_ = generation_;
        counters_->subscribes.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  if (moved && options_.on_moved) options_.on_moved(partition);
  if (resync.any()) Resync(resync);
}

void LiveFeed::Assign(const Partitions& partitions, bool resync_new) {
  std::vector<int> added;
  uint64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    for (int p = 0; p < kPartitions; ++p) {
      if (partitions.test(p) && !assigned_.test(p)) {
        added.push_back(p);
        if (resync_new) resync_after_.set(p);
      }
    }
    // A partition that left is not unsubscribed: its node drops the
    // channel itself when the slot moves (sunsubscribe), or is gone.
    subscribed_ &= partitions;
    assigned_ = partitions;
    generation = generation_;
    if (!ready_) return;  // OnReady subscribes them all
  }
  for (int p : added) Subscribe(p, generation);
}

void LiveFeed::OnReady(RedisClient& client) {
  std::vector<int> partitions;
  uint64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    io_client_ = &client;
    ready_ = true;
    generation = ++generation_;
    subscribed_.reset();
    outstanding_ = 0;
    resync_after_ |= ever_subscribed_ & assigned_;
    last_heard_ = absl::Now();
    probe_nonce_ = 0;
    for (int p = 0; p < kPartitions; ++p) {
      if (assigned_.test(p)) partitions.push_back(p);
    }
  }
  last_seq_.fill(0);
  for (int p : partitions) Subscribe(p, generation);
}

void LiveFeed::OnLost() {
  absl::MutexLock lock(&mu_);
  ready_ = false;
  ++generation_;
  subscribed_.reset();
}

void LiveFeed::Resync(const Partitions& partitions) {
  AppendListener* listener = listener_.load();
  if (listener == nullptr) return;
  counters_->resyncs.fetch_add(1, std::memory_order_relaxed);
  listener->Resync(
      [partitions](const std::string& client_id) {
        return partitions.test(PartitionOf(client_id));
      },
      options_.resync_retry_ms);
}

void LiveFeed::OnPush(RespValue push) {
  {
    absl::MutexLock lock(&mu_);
    last_heard_ = absl::Now();
  }
  if (push.elements.size() < 2) return;
  const std::string& kind = push.elements[0].text;
  const int partition = HashSlot(push.elements[1].text) / (kClusterSlots / kPartitions);
  if (kind == "sunsubscribe") {
    // The slot moved away (Redis Cluster). Its streams resume from the
    // mailboxes; the partition is subscribed again where the new map says.
    bool assigned = false;
    {
      absl::MutexLock lock(&mu_);
      subscribed_.reset(partition);
      assigned = assigned_.test(partition);
    }
    if (!assigned) return;
    Partitions moved;
    moved.set(partition);
    Resync(moved);
    if (options_.on_moved) options_.on_moved(partition);
    return;
  }
  if (kind == "smessage" && push.elements.size() == 3) Dispatch(partition, push.elements[2].text);
}

void LiveFeed::Dispatch(int partition, absl::string_view text) {
  Partitions affected;
  affected.set(partition);
  absl::StatusOr<Notification> parsed = ParseNotification(text);
  if (!parsed.ok()) {
    counters_->malformed.fetch_add(1, std::memory_order_relaxed);
    return Resync(affected);
  }
  if (parsed->kind == Notification::Kind::kProbe) {
    absl::StatusOr<uint64_t> nonce = ProbeNonce(text);
    absl::MutexLock lock(&mu_);
    if (nonce.ok() && *nonce == probe_nonce_) probe_nonce_ = 0;
    return;
  }
  counters_->notifications.fetch_add(1, std::memory_order_relaxed);
  uint64_t& last = last_seq_[partition];
  if (last != 0 && parsed->seq != last + 1) Resync(affected);
  last = parsed->seq;
  AppendListener* listener = listener_.load();
  if (listener == nullptr) return;
  if (parsed->kind == Notification::Kind::kClose) {
    const CloseCause cause =
        parsed->cause == "deleted" ? CloseCause::kClientDeleted : CloseCause::kDisconnected;
    return listener->CloseStreams(parsed->client_id, cause, parsed->retry_ms);
  }
  FanoutBatch fanout;  // one notification: one wake-up per loop, one encoding
  for (const auto& [client_id, id] : parsed->appended) {
    listener->OnAppended(
        client_id, Message{id, parsed->payload, parsed->published_at, parsed->expires_at}, fanout);
  }
}

void LiveFeed::CheckLiveness(RedisClient& commands, absl::Time now) {
  std::vector<int> missing;
  uint64_t generation = 0;
  uint64_t nonce = 0;
  int probe_partition = -1;
  {
    absl::MutexLock lock(&mu_);
    if (!ready_) return;
    generation = generation_;
    if (outstanding_ == 0) {
      // Refused (MOVED) or dropped (sunsubscribe) and still assigned here:
      // try again; each try that fails asks for a new map.
      for (int p = 0; p < kPartitions; ++p) {
        if (assigned_.test(p) && !subscribed_.test(p)) {
          missing.push_back(p);
          if (ever_subscribed_.test(p)) resync_after_.set(p);
        }
      }
    }
    if (LiveLocked()) {
      if (probe_nonce_ != 0) {
        if (now - probe_sent_ >= options_.probe_timeout) {
          // Subscribed but deaf (a failover can leave a TCP-alive
          // subscriber that hears nothing): start over.
          probe_nonce_ = 0;
          counters_->probes_lost.fetch_add(1, std::memory_order_relaxed);
          ready_ = false;
          client_->Reconnect();
        }
      } else if (now - last_heard_ >= options_.probe_after) {
        for (int p = 0; p < kPartitions && probe_partition < 0; ++p) {
          if (assigned_.test(p)) probe_partition = p;
        }
        nonce = probe_nonce_ = ++probes_sent_;
        probe_sent_ = now;
      }
    }
  }
  for (int p : missing) Subscribe(p, generation);
  if (probe_partition >= 0) {
    commands.Submit(
        {"SPUBLISH", ReplicaChannel(probe_partition, options_.replica_id), ProbeText(nonce)},
        [](absl::StatusOr<RespValue>) {});
  }
}

}  // namespace pushbroker::redis
