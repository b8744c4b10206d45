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

LiveFeed::LiveFeed(LiveFeedOptions options) : options_(std::move(options)) {}

LiveFeed::~LiveFeed() { client_.reset(); }  // joins the I/O thread before members go

void LiveFeed::Subscribe(int partition) {
  // One channel per command: channels of two slots in one SSUBSCRIBE are
  // refused (CROSSSLOT).
  io_client_->Submit({"SSUBSCRIBE", ReplicaChannel(partition, options_.replica_id)},
                     [this](absl::StatusOr<RespValue> reply) {
                       if (!reply.ok() || reply->is_error()) return;  // the connection is redone
                       if (++subscribed_ < kPartitions) return;
                       live_.store(true);
                       counters_.subscribes.fetch_add(1, std::memory_order_relaxed);
                       // Anything published while the feed was down is in the
                       // mailboxes: streams that were open resume from there.
                       if (subscribed_before_) Resync(-1);
                       subscribed_before_ = true;
                     });
}

void LiveFeed::OnReady(RedisClient& client) {
  io_client_ = &client;
  subscribed_ = 0;
  last_seq_.fill(0);
  {
    absl::MutexLock lock(&mu_);
    last_heard_ = absl::Now();
    probe_nonce_ = 0;
  }
  for (int partition = 0; partition < kPartitions; ++partition) Subscribe(partition);
}

void LiveFeed::OnLost() { live_.store(false); }

void LiveFeed::Resync(int partition) {
  AppendListener* listener = listener_.load();
  if (listener == nullptr) return;
  counters_.resyncs.fetch_add(1, std::memory_order_relaxed);
  if (partition < 0) {
    listener->Resync([](const std::string&) { return true; }, options_.resync_retry_ms);
  } else {
    listener->Resync(
        [partition](const std::string& client_id) { return PartitionOf(client_id) == partition; },
        options_.resync_retry_ms);
  }
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
    // The slot moved (Redis Cluster): follow it, and catch up.
    live_.store(false);
    --subscribed_;
    Subscribe(partition);
    Resync(partition);
    return;
  }
  if (kind == "smessage" && push.elements.size() == 3) Dispatch(partition, push.elements[2].text);
}

void LiveFeed::Dispatch(int partition, absl::string_view text) {
  absl::StatusOr<Notification> parsed = ParseNotification(text);
  if (!parsed.ok()) {
    counters_.malformed.fetch_add(1, std::memory_order_relaxed);
    return Resync(partition);
  }
  if (parsed->kind == Notification::Kind::kProbe) {
    absl::StatusOr<uint64_t> nonce = ProbeNonce(text);
    absl::MutexLock lock(&mu_);
    if (nonce.ok() && *nonce == probe_nonce_) probe_nonce_ = 0;
    return;
  }
  counters_.notifications.fetch_add(1, std::memory_order_relaxed);
  uint64_t& last = last_seq_[partition];
  if (last != 0 && parsed->seq != last + 1) Resync(partition);
  last = parsed->seq;
  AppendListener* listener = listener_.load();
  if (listener == nullptr) return;
  if (parsed->kind == Notification::Kind::kClose) {
    const CloseCause cause =
        parsed->cause == "deleted" ? CloseCause::kClientDeleted : CloseCause::kDisconnected;
    return listener->CloseStreams(parsed->client_id, cause, parsed->retry_ms);
  }
  for (const auto& [client_id, id] : parsed->appended) {
    listener->OnAppended(client_id,
                         Message{id, parsed->payload, parsed->published_at, parsed->expires_at});
  }
}

void LiveFeed::CheckLiveness(RedisClient& commands, absl::Time now) {
  if (!live()) return;
  uint64_t nonce = 0;
  {
    absl::MutexLock lock(&mu_);
    if (probe_nonce_ != 0) {
      if (now - probe_sent_ < options_.probe_timeout) return;
      // Subscribed but deaf (a failover can leave a TCP-alive subscriber
      // that hears nothing): start over.
      probe_nonce_ = 0;
      counters_.probes_lost.fetch_add(1, std::memory_order_relaxed);
      live_.store(false);
      client_->Reconnect();
      return;
    }
    if (now - last_heard_ < options_.probe_after) return;
    nonce = probe_nonce_ = ++probes_sent_;
    probe_sent_ = now;
  }
  commands.Submit({"SPUBLISH", ReplicaChannel(0, options_.replica_id), ProbeText(nonce)},
                  [](absl::StatusOr<RespValue>) {});
}

}  // namespace pushbroker::redis
