// RedisEventRelay: carries Watch events between the replicas sharing one
// Redis (or Redis Cluster) through one stream, pb:{events}:log. Each replica
// appends the events it sees that some replica wants (XADD, trimmed to
// about max_len, off the caller's thread) and reads everyone's (XREAD every
// poll_interval), handing the other replicas' events to `deliver`. What each
// replica wants is advertised in the hash pb:{events}:wants (field: replica,
// value: "<kind bits>|<expiry unix ms>"), refreshed with the reads, so an
// event nobody in the fleet asked for is never written. A Watch group is a
// Redis consumer group on the stream: each replica with members reads the
// group's share (XREADGROUP, consumer = replica), feeds it to its members,
// acknowledges what they confirm (XACK), and claims what a replica that
// went away left unacknowledged (XAUTOCLAIM after the ack timeout).
#ifndef PUSH_BROKER_REDIS_EVENT_RELAY_H_
#define PUSH_BROKER_REDIS_EVENT_RELAY_H_

#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "events/broker_event.h"
#include "events/watch_hub.h"
#include "redis/redis_router.h"

namespace pushbroker::redis {

struct EventRelayOptions {
  std::string replica;      // this process's replica id
  size_t max_len = 100000;  // the stream is trimmed to about this many events
  absl::Duration poll_interval = absl::Milliseconds(20);
  absl::Duration wants_every = absl::Milliseconds(500);  // advertise and read wants
  absl::Duration ack_timeout = absl::Seconds(30);  // a group's entries idle this long are claimed
};

// What the relay needs of the local Watch log's groups.
struct RelayGroups {
  // The groups with members on this replica.
  std::function<std::vector<WatchHub::GroupSpec>()> local;
  // Hands an entry to a local group; false when it has no members here.
  std::function<bool(const std::string& group, BrokerEvent event, std::string entry_id)> feed;
};

// Start() and Stop() from one owning thread; Publish() and the wants from
// any thread. `deliver` runs on the relay's thread.
class RedisEventRelay {
 public:
  using Deliver = std::function<void(BrokerEvent)>;
  // `local_wants` says what this replica wants now; `router` must outlive
  // the relay.
  RedisEventRelay(EventRelayOptions options, RedisRouter* router,
                  std::function<EventKindSet()> local_wants, Deliver deliver, RelayGroups groups);
  RedisEventRelay(const RedisEventRelay&) = delete;
  RedisEventRelay& operator=(const RedisEventRelay&) = delete;
  ~RedisEventRelay() { Stop(); }

  void Start();
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Whether another replica wants events of `kind`.
  bool FleetWants(EventKind kind) const {
    return (fleet_wants_.load(std::memory_order_relaxed) >> static_cast<unsigned>(kind)) & 1u;
  }
  // Appends a local event for the other replicas (best effort: a lost
  // append is a lost event for them, as a crash would lose it).
  void Publish(const BrokerEvent& event);
  // Asks the other replicas to relay `kinds` from now (a wait began).
  void AdvertiseSoon() { advertise_now_.store(true, std::memory_order_relaxed); }
  // A member confirmed `entry_id` of `group`.
  void Ack(const std::string& group, const std::string& entry_id);

  uint64_t relayed_out() const { return out_.load(std::memory_order_relaxed); }
  uint64_t relayed_in() const { return in_.load(std::memory_order_relaxed); }

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Advertises this replica's wants and reads the others'.
  void ExchangeWants(absl::Time now);
  // Reads what was appended after `last_id_` and delivers the others'.
  void ReadNew();
  // Reads each local group's new entries (and, every ack timeout, claims
  // the idle ones) and feeds them to its members.
  void ReadGroups(absl::Time now);
  // Feeds `entries` ([[id, [field, value, ...]], ...]) to `group`.
  void FeedEntries(const WatchHub::GroupSpec& group, const RespValue& entries);

  const EventRelayOptions options_;
  RedisRouter* const router_;
  const std::function<EventKindSet()> local_wants_;
  const Deliver deliver_;
  const RelayGroups groups_;
  std::set<std::string> created_groups_;          // relay thread only
  absl::Time next_claim_ = absl::InfinitePast();  // relay thread only
  const int slot_;                                // of the stream and the hash (one hash tag)
  std::atomic<uint32_t> fleet_wants_{0};
  std::atomic<bool> advertise_now_{false};
  std::atomic<uint64_t> out_{0};
  std::atomic<uint64_t> in_{0};
  std::string last_id_;  // relay thread only: the last stream id read
  std::thread thread_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace pushbroker::redis

#endif  // PUSH_BROKER_REDIS_EVENT_RELAY_H_
