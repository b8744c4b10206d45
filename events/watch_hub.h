// WatchHub: the in-process event log behind Watch: a bounded ring of recent
// events (count, bytes and age), the watchers reading it, and the groups
// that share its events among their members with confirmation, timeouts and
// redelivery (at least once).
#ifndef PUSH_BROKER_EVENTS_WATCH_HUB_H_
#define PUSH_BROKER_EVENTS_WATCH_HUB_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/clock.h"
#include "events/broker_event.h"

namespace pushbroker {

struct WatchOptions {
  // The ring keeps at most this many events, bytes and age: the window in
  // which a watcher may resume with after_id.
  size_t retention_count = 100000;
  uint64_t retention_bytes = 64 << 20;
  absl::Duration retention_age = absl::Minutes(10);
  absl::Duration ack_timeout = absl::Seconds(30);  // a grouped event not confirmed goes elsewhere
  size_t max_unconfirmed = 1000;                   // per grouped watcher
  size_t max_watchers = 100;
  size_t max_groups = 100;  // groups are kept for retention_age after their last member
  // A watcher this far behind (bytes of events it has not taken yet, or
  // taken and not confirmed) is cut.
  uint64_t queue_bytes = 8 << 20;
};

// What a watcher asks for. Members of one group must ask for the same
// kinds and client.
struct WatchSpec {
  EventKindSet kinds = EventKindSet::All();
  std::string group;      // empty: every event to this watcher
  std::string after_id;   // empty: from now on
  std::string client_id;  // empty: every client
};

// The next events for one watcher, or the status its watch must end with.
struct WatchBatch {
  std::vector<BrokerEvent> events;
  absl::Status end;
};

// Safe for concurrent access from multiple threads. Wakers run without the
// hub's lock held and may call Take; the hub never calls back while locked.
class WatchHub {
 public:
  // One open watch. Wake() runs the waker until Close().
  class Watch {
   public:
    Watch(uint64_t id, WatchSpec spec, std::function<void()> waker)
        : id_(id), spec_(std::move(spec)), waker_(std::move(waker)) {}
    uint64_t id() const { return id_; }
    const WatchSpec& spec() const { return spec_; }
    void Wake() ABSL_LOCKS_EXCLUDED(mu_);
    // After this returns, the waker never runs again.
    void Disarm() ABSL_LOCKS_EXCLUDED(mu_);

   private:
    const uint64_t id_;
    const WatchSpec spec_;
    absl::Mutex mu_;
    std::function<void()> waker_ ABSL_GUARDED_BY(mu_);
  };

  // `clock` must outlive the hub.
  WatchHub(WatchOptions options, const Clock* clock);
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Whether an event of `kind` would be kept: some watcher or group wants
  // it now, or did within the retention window (so a resume finds it).
  // Cheap; callers skip building events nobody wants.
  bool Wants(EventKind kind) const {
    return (wanted_.load(std::memory_order_relaxed) >> static_cast<unsigned>(kind)) & 1u;
  }
  // Groups fed from outside instead of from this hub's log (Redis: a
  // consumer group shared by every replica). Call before any watch opens.
  // `on_confirmed(group, source_id)` runs, without the hub's lock, when a
  // member confirms an event fed with FeedGroup.
  void FeedGroupsExternally(
      std::function<void(const std::string& group, const std::string& source_id)> on_confirmed)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Hands `event` (known outside as `source_id`) to a member of `group`.
  // False when no such group has members here.
  bool FeedGroup(const std::string& group, BrokerEvent event, std::string source_id)
      ABSL_LOCKS_EXCLUDED(mu_);
  struct GroupSpec {
    std::string name;
    EventKindSet kinds;
    std::string client_id;
  };
  // The groups with members here.
  std::vector<GroupSpec> LocalGroups() const ABSL_LOCKS_EXCLUDED(mu_);
  // Whether a group here watches `kind`.
  bool GroupWants(EventKind kind) const {
    return (group_wanted_.load(std::memory_order_relaxed) >> static_cast<unsigned>(kind)) & 1u;
  }
  static bool Matches(EventKindSet kinds, const std::string& client_id, const BrokerEvent& event);

  // Every kind Wants() says yes to.
  EventKindSet wanted() const {
    return EventKindSet::FromBits(wanted_.load(std::memory_order_relaxed));
  }
  // Appends the event (setting its id) and wakes the watchers it concerns.
  // Returns the id.
  std::string Emit(BrokerEvent event) ABSL_LOCKS_EXCLUDED(mu_);

  // INVALID_ARGUMENT for a malformed or future after_id, RESOURCE_EXHAUSTED
  // past max_watchers or max_groups, FAILED_PRECONDITION for a group member
  // asking for other kinds than its group.
  absl::StatusOr<std::shared_ptr<Watch>> Open(WatchSpec spec, std::function<void()> waker)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Up to `max` events for the watcher. None: the waker runs when there are.
  WatchBatch Take(const Watch& watch, size_t max) ABSL_LOCKS_EXCLUDED(mu_);
  // The watcher handled these events (grouped watchers). Returns whether it
  // may take more now than before. INVALID_ARGUMENT for a malformed id.
  absl::StatusOr<bool> Confirm(const Watch& watch, const std::vector<std::string>& ids)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the watch; its unconfirmed events go to its group's other members.
  void Close(Watch& watch) ABSL_LOCKS_EXCLUDED(mu_);
  // Redelivers what waited past ack_timeout, trims by age, forgets idle
  // groups. Call a few times a second.
  void Tick() ABSL_LOCKS_EXCLUDED(mu_);

  size_t watchers() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t emitted() const { return emitted_.load(std::memory_order_relaxed); }
  uint64_t redelivered() const { return redelivered_.load(std::memory_order_relaxed); }
  uint64_t watchers_cut() const { return cut_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    uint64_t seq;
    std::shared_ptr<const BrokerEvent> event;
    uint64_t bytes_before;  // bytes emitted before this event, ever
  };
  struct Pending {
    std::shared_ptr<const BrokerEvent> event;
    uint64_t owner;  // watch id
    absl::Time deadline;
  };
  struct Group {
    EventKindSet kinds;
    std::string client_id;
    uint64_t cursor = 0;   // the next seq to hand out
    uint64_t dropped = 0;  // lost before the next event handed out
    std::deque<std::pair<uint64_t, std::shared_ptr<const BrokerEvent>>> redeliver;
    absl::flat_hash_map<uint64_t, Pending> pending;
    // Events fed from outside, by seq: their outside id, and whether a
    // member had them already (a second hand-out is a redelivery).
    struct Source {
      std::string id;
      bool handed = false;
    };
    absl::flat_hash_map<uint64_t, Source> sources;
    std::vector<uint64_t> members;  // watch ids, in joining order
    size_t next_member = 0;         // round robin among waiting members
    absl::Time idle_since = absl::InfiniteFuture();
  };
  struct WatchState {
    std::shared_ptr<Watch> watch;
    Group* group = nullptr;
    std::string group_name;
    uint64_t cursor = 0;   // ungrouped: the next seq to look at
    uint64_t dropped = 0;  // ungrouped: lost before the next event
    size_t unconfirmed = 0;
    uint64_t unconfirmed_bytes = 0;
    bool waiting = false;
    absl::Status cut;
  };

  std::string IdOf(uint64_t seq) const;
  // The seq an id names, or INVALID_ARGUMENT.
  absl::StatusOr<uint64_t> SeqOf(const std::string& id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Where a reader resuming after `after_id` starts, and what it lost.
  absl::Status Resume(const std::string& after_id, uint64_t* cursor, uint64_t* dropped) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TrimLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TakeUngroupedLocked(WatchState& state, size_t max, WatchBatch& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TakeGroupedLocked(WatchState& state, size_t max, absl::Time now, WatchBatch& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A waiting member of `group` with room for more, marked not waiting.
  std::shared_ptr<Watch> WakeOneLocked(Group& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives the watcher's unconfirmed events back to its group.
  void ReturnPendingLocked(Group& group, uint64_t owner) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CutLocked(WatchState& state, uint64_t lag) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Recomputes wanted_ from watchers, groups and recently wanted kinds.
  void UpdateWantedLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WatchOptions options_;
  const Clock* const clock_;
  const uint32_t epoch_;  // ids of another process's hub are foreign
  std::atomic<uint32_t> wanted_{0};
  std::atomic<uint32_t> group_wanted_{0};
  std::atomic<uint64_t> emitted_{0};
  std::atomic<uint64_t> redelivered_{0};
  std::atomic<uint64_t> cut_{0};

  mutable absl::Mutex mu_;
  std::deque<Entry> ring_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t bytes_emitted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t ring_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_watch_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Fed groups: their events' seqs, far above the log's.
  bool external_groups_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void(const std::string&, const std::string&)> on_confirmed_ ABSL_GUARDED_BY(mu_);
  uint64_t next_fed_seq_ ABSL_GUARDED_BY(mu_) = uint64_t{1} << 48;
  absl::flat_hash_map<uint64_t, WatchState> watches_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::unique_ptr<Group>> groups_ ABSL_GUARDED_BY(mu_);
  // Per kind, until when it counts as wanted after its last watcher left.
  std::array<absl::Time, kEventKindCount> wanted_until_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_EVENTS_WATCH_HUB_H_
