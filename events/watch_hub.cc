#include "events/watch_hub.h"

#include <algorithm>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pushbroker {
namespace {

uint32_t RandomEpoch() {
  absl::BitGen random;
  return absl::Uniform<uint32_t>(random, 1, UINT32_MAX);
}

}  // namespace

void WatchHub::Watch::Wake() {
  absl::MutexLock lock(&mu_);
  if (waker_) waker_();
}

void WatchHub::Watch::Disarm() {
  absl::MutexLock lock(&mu_);
  waker_ = nullptr;
}

WatchHub::WatchHub(WatchOptions options, const Clock* clock)
    : options_(options), clock_(clock), epoch_(RandomEpoch()) {
  wanted_until_.fill(absl::InfinitePast());
}

std::string WatchHub::IdOf(uint64_t seq) const {
  // Fixed width, so ids of one process also sort as text.
  return absl::StrFormat("%08x-%012d", epoch_, seq);
}

absl::StatusOr<uint64_t> WatchHub::SeqOf(const std::string& id) const {
  const size_t dash = id.find('-');
  uint32_t epoch = 0;
  uint64_t seq = 0;
  if (dash == std::string::npos || !absl::SimpleHexAtoi(id.substr(0, dash), &epoch) ||
      !absl::SimpleAtoi(id.substr(dash + 1), &seq) || epoch == 0 || seq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", id.substr(0, 64), "' is not an event id (as a BrokerEvent's id)"));
  }
  if (epoch != epoch_) return 0;  // another process's: nothing of it is here
  return seq;
}

absl::Status WatchHub::Resume(const std::string& after_id, uint64_t* cursor,
                              uint64_t* dropped) const {
  const uint64_t first = ring_.empty() ? next_seq_ : ring_.front().seq;
  if (after_id.empty()) {
    *cursor = next_seq_;
    *dropped = 0;
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> seq = SeqOf(after_id);
  if (!seq.ok()) return seq.status();
  if (*seq == 0) {
    // Another process's id (the broker restarted): what happened there after
    // it is unknown, so at least one event counts as lost.
    *cursor = first;
    *dropped = first;
    return absl::OkStatus();
  }
  if (*seq >= next_seq_) {
    return absl::InvalidArgumentError(
        absl::StrCat("after_id ", after_id, " is ahead of the last event ", IdOf(next_seq_ - 1)));
  }
  *cursor = std::max(*seq + 1, first);
  *dropped = first > *seq + 1 ? first - (*seq + 1) : 0;
  return absl::OkStatus();
}

bool WatchHub::Matches(EventKindSet kinds, const std::string& client_id, const BrokerEvent& event) {
  return kinds.Has(event.kind) && (client_id.empty() || client_id == event.client_id);
}

std::string WatchHub::Emit(BrokerEvent event) {
  std::vector<std::shared_ptr<Watch>> wake;
  std::string id;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    const uint64_t seq = next_seq_++;
    event.id = IdOf(seq);
    id = event.id;
    const size_t bytes = event.ByteSize();
    auto shared = std::make_shared<const BrokerEvent>(std::move(event));
    ring_.push_back(Entry{seq, shared, bytes_emitted_});
    bytes_emitted_ += bytes;
    ring_bytes_ += bytes;
    TrimLocked(now);
    const uint64_t first = ring_.empty() ? next_seq_ : ring_.front().seq;
    for (auto& [watch_id, state] : watches_) {
      if (state.group != nullptr || !state.cut.ok()) continue;
      if (state.waiting) {
        if (Matches(state.watch->spec().kinds, state.watch->spec().client_id, *shared)) {
          state.waiting = false;
          wake.push_back(state.watch);
        } else if (state.cursor == seq) {
          state.cursor = seq + 1;  // caught up: nothing to look at again
        }
        continue;
      }
      // Busy writing: how far behind it is.
      const uint64_t from = state.cursor >= first && state.cursor < next_seq_
                                ? ring_[state.cursor - first].bytes_before
                                : (state.cursor >= next_seq_ ? bytes_emitted_ : 0);
      const uint64_t lag = bytes_emitted_ - from;
      if (lag > options_.queue_bytes) {
        CutLocked(state, lag);
        wake.push_back(state.watch);
      }
    }
    for (auto& [name, group] : groups_) {
      if (external_groups_) break;  // fed from outside, not from this log
      if (!Matches(group->kinds, group->client_id, *shared)) continue;
      if (std::shared_ptr<Watch> member = WakeOneLocked(*group)) wake.push_back(std::move(member));
    }
  }
  emitted_.fetch_add(1, std::memory_order_relaxed);
  for (const auto& watch : wake) watch->Wake();
  return id;
}

void WatchHub::CutLocked(WatchState& state, uint64_t lag) {
  state.cut = absl::ResourceExhaustedError(absl::StrCat(
      "this watcher fell ", lag, " bytes behind (--watch_queue_bytes is ", options_.queue_bytes,
      "); read faster, and resume with after_id set to the last event id received"));
  cut_.fetch_add(1, std::memory_order_relaxed);
  if (state.group != nullptr) ReturnPendingLocked(*state.group, state.watch->id());
}

std::shared_ptr<WatchHub::Watch> WatchHub::WakeOneLocked(Group& group) {
  const size_t count = group.members.size();
  for (size_t i = 0; i < count; ++i) {
    const size_t index = (group.next_member + i) % count;
    auto it = watches_.find(group.members[index]);
    if (it == watches_.end()) continue;
    WatchState& state = it->second;
    if (!state.waiting || !state.cut.ok() || state.unconfirmed >= options_.max_unconfirmed) {
      continue;
    }
    state.waiting = false;
    group.next_member = index + 1;
    return state.watch;
  }
  return nullptr;
}

void WatchHub::TrimLocked(absl::Time now) {
  const absl::Time oldest = now - options_.retention_age;
  while (!ring_.empty() &&
         (ring_.size() > options_.retention_count || ring_bytes_ > options_.retention_bytes ||
          ring_.front().event->at < oldest)) {
    ring_bytes_ -= ring_.front().event->ByteSize();
    ring_.pop_front();
  }
}

absl::StatusOr<std::shared_ptr<WatchHub::Watch>> WatchHub::Open(WatchSpec spec,
                                                                std::function<void()> waker) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  if (!spec.client_id.empty() && spec.client_id.size() > 1024) {
    return absl::InvalidArgumentError("client_id is longer than 1024 bytes");
  }
  if (watches_.size() >= options_.max_watchers) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this broker serves --max_watchers=", options_.max_watchers, " watchers already"));
  }
  uint64_t cursor = 0;
  uint64_t dropped = 0;
  if (absl::Status resumed = Resume(spec.after_id, &cursor, &dropped); !resumed.ok()) {
    return resumed;
  }
  const uint64_t id = next_watch_id_++;
  WatchState state;
  state.cursor = cursor;
  state.dropped = dropped;
  if (!spec.group.empty()) {
    auto it = groups_.find(spec.group);
    if (it == groups_.end()) {
      if (groups_.size() >= options_.max_groups) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "this broker keeps --max_watch_groups=", options_.max_groups, " groups already"));
      }
      auto group = std::make_unique<Group>();
      group->kinds = spec.kinds;
      group->client_id = spec.client_id;
      group->cursor = cursor;
      group->dropped = dropped;
      it = groups_.emplace(spec.group, std::move(group)).first;
    } else if (!(it->second->kinds == spec.kinds) || it->second->client_id != spec.client_id) {
      return absl::FailedPreconditionError(absl::StrCat(
          "group '", spec.group, "' watches kinds [", it->second->kinds.ToString(), "] of client '",
          it->second->client_id, "'; every member must ask for the same"));
    }
    state.group = it->second.get();
    state.group_name = spec.group;
    state.group->members.push_back(id);
    state.group->idle_since = absl::InfiniteFuture();
  }
  state.watch = std::make_shared<Watch>(id, std::move(spec), std::move(waker));
  std::shared_ptr<Watch> watch = state.watch;
  watches_.emplace(id, std::move(state));
  UpdateWantedLocked(now);
  return watch;
}

void WatchHub::TakeUngroupedLocked(WatchState& state, size_t max, WatchBatch& batch) {
  const WatchSpec& spec = state.watch->spec();
  const uint64_t first = ring_.empty() ? next_seq_ : ring_.front().seq;
  if (state.cursor < first) {
    state.dropped += first - state.cursor;
    state.cursor = first;
  }
  while (batch.events.size() < max && state.cursor < next_seq_) {
    const Entry& entry = ring_[state.cursor - first];
    ++state.cursor;
    if (!Matches(spec.kinds, spec.client_id, *entry.event)) continue;
    batch.events.push_back(*entry.event);
    batch.events.back().dropped = state.dropped;
    state.dropped = 0;
  }
}

void WatchHub::TakeGroupedLocked(WatchState& state, size_t max, absl::Time now, WatchBatch& batch) {
  Group& group = *state.group;
  const uint64_t owner = state.watch->id();
  auto assign = [&](uint64_t seq, std::shared_ptr<const BrokerEvent> event, uint64_t dropped) {
    batch.events.push_back(*event);
    batch.events.back().dropped = dropped;
    state.unconfirmed_bytes += event->ByteSize();
    ++state.unconfirmed;
    group.pending[seq] = Pending{std::move(event), owner, now + options_.ack_timeout};
  };
  while (batch.events.size() < max && state.unconfirmed < options_.max_unconfirmed) {
    if (!group.redeliver.empty()) {
      auto [seq, event] = std::move(group.redeliver.front());
      group.redeliver.pop_front();
      auto source = group.sources.find(seq);
      if (source == group.sources.end() || source->second.handed) {
        redelivered_.fetch_add(1, std::memory_order_relaxed);
      } else {
        source->second.handed = true;  // a fed event's first hand-out
      }
      assign(seq, std::move(event), 0);
      continue;
    }
    if (external_groups_) break;
    const uint64_t first = ring_.empty() ? next_seq_ : ring_.front().seq;
    if (group.cursor < first) {
      group.dropped += first - group.cursor;
      group.cursor = first;
    }
    if (group.cursor >= next_seq_) break;
    const Entry& entry = ring_[group.cursor - first];
    ++group.cursor;
    if (!Matches(group.kinds, group.client_id, *entry.event)) continue;
    assign(entry.seq, entry.event, group.dropped);
    group.dropped = 0;
  }
  if (state.unconfirmed_bytes > options_.queue_bytes) CutLocked(state, state.unconfirmed_bytes);
}

WatchBatch WatchHub::Take(const Watch& watch, size_t max) {
  WatchBatch batch;
  absl::MutexLock lock(&mu_);
  auto it = watches_.find(watch.id());
  if (it == watches_.end()) {
    batch.end = absl::CancelledError("the watch was closed");
    return batch;
  }
  WatchState& state = it->second;
  if (!state.cut.ok()) {
    batch.end = state.cut;
    return batch;
  }
  if (state.group == nullptr) {
    TakeUngroupedLocked(state, max, batch);
  } else {
    TakeGroupedLocked(state, max, clock_->Now(), batch);
  }
  state.waiting = batch.events.empty();
  return batch;
}

absl::StatusOr<bool> WatchHub::Confirm(const Watch& watch, const std::vector<std::string>& ids) {
  std::vector<std::string> confirmed_sources;
  std::function<void(const std::string&, const std::string&)> on_confirmed;
  std::string group_name;
  bool more = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = watches_.find(watch.id());
    if (it == watches_.end()) return false;
    WatchState& state = it->second;
    std::vector<uint64_t> seqs;
    seqs.reserve(ids.size());
    for (const std::string& id : ids) {
      absl::StatusOr<uint64_t> seq = SeqOf(id);
      if (!seq.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("confirm_ids: ", seq.status().message()));
      }
      seqs.push_back(*seq);
    }
    if (state.group == nullptr) return false;  // nothing to confirm without a group
    const bool was_full = state.unconfirmed >= options_.max_unconfirmed;
    for (uint64_t seq : seqs) {
      auto pending = state.group->pending.find(seq);
      if (pending == state.group->pending.end()) continue;  // confirmed already, or not ours
      auto owner = watches_.find(pending->second.owner);
      if (owner != watches_.end()) {
        --owner->second.unconfirmed;
        owner->second.unconfirmed_bytes -= pending->second.event->ByteSize();
      }
      state.group->pending.erase(pending);
      if (auto source = state.group->sources.find(seq); source != state.group->sources.end()) {
        confirmed_sources.push_back(std::move(source->second.id));
        state.group->sources.erase(source);
      }
    }
    more = was_full && state.unconfirmed < options_.max_unconfirmed;
    on_confirmed = on_confirmed_;
    group_name = state.group_name;
  }
  // Fed events are acknowledged at their source (Redis: XACK).
  if (on_confirmed) {
    for (const std::string& id : confirmed_sources) on_confirmed(group_name, id);
  }
  return more;
}

void WatchHub::ReturnPendingLocked(Group& group, uint64_t owner) {
  std::vector<std::pair<uint64_t, std::shared_ptr<const BrokerEvent>>> returned;
  for (auto it = group.pending.begin(); it != group.pending.end();) {
    if (it->second.owner == owner) {
      returned.emplace_back(it->first, std::move(it->second.event));
      group.pending.erase(it++);
    } else {
      ++it;
    }
  }
  std::sort(returned.begin(), returned.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (auto& entry : returned) group.redeliver.push_front(std::move(entry));
  auto state = watches_.find(owner);
  if (state != watches_.end()) {
    state->second.unconfirmed = 0;
    state->second.unconfirmed_bytes = 0;
  }
}

void WatchHub::Close(Watch& watch) {
  watch.Disarm();
  std::shared_ptr<Watch> wake;
  {
    absl::MutexLock lock(&mu_);
    auto it = watches_.find(watch.id());
    if (it == watches_.end()) return;
    Group* group = it->second.group;
    if (group != nullptr) {
      ReturnPendingLocked(*group, watch.id());
      group->members.erase(std::find(group->members.begin(), group->members.end(), watch.id()));
      if (group->members.empty()) group->idle_since = clock_->Now();
    }
    watches_.erase(it);
    if (group != nullptr && !group->redeliver.empty()) wake = WakeOneLocked(*group);
    const absl::Time now = clock_->Now();
    for (size_t kind = 0; kind < kEventKindCount; ++kind) {
      if (watch.spec().kinds.Has(static_cast<EventKind>(kind))) {
        wanted_until_[kind] = std::max(wanted_until_[kind], now + options_.retention_age);
      }
    }
    UpdateWantedLocked(now);
  }
  if (wake) wake->Wake();
}

void WatchHub::Tick() {
  std::vector<std::shared_ptr<Watch>> wake;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    TrimLocked(now);
    for (auto it = groups_.begin(); it != groups_.end();) {
      Group& group = *it->second;
      if (group.members.empty() && now - group.idle_since > options_.retention_age) {
        groups_.erase(it++);
        continue;
      }
      std::vector<uint64_t> owners;
      for (const auto& [seq, pending] : group.pending) {
        if (pending.deadline <= now) owners.push_back(pending.owner);
      }
      // The whole of a late watcher's unconfirmed events go back at once, in
      // order: it is stuck or gone.
      std::sort(owners.begin(), owners.end());
      owners.erase(std::unique(owners.begin(), owners.end()), owners.end());
      for (uint64_t owner : owners) ReturnPendingLocked(group, owner);
      if (!group.redeliver.empty()) {
        // The other members first (a woken member takes at once): the late
        // one may be stuck, and gets its events back only if nobody else
        // is free.
        std::vector<std::shared_ptr<Watch>> late;
        while (std::shared_ptr<Watch> member = WakeOneLocked(group)) {
          const bool was_late = std::binary_search(owners.begin(), owners.end(), member->id());
          (was_late ? late : wake).push_back(std::move(member));
        }
        wake.insert(wake.end(), late.begin(), late.end());
      }
      ++it;
    }
    UpdateWantedLocked(now);
  }
  for (const auto& watch : wake) watch->Wake();
}

void WatchHub::FeedGroupsExternally(
    std::function<void(const std::string& group, const std::string& source_id)> on_confirmed) {
  absl::MutexLock lock(&mu_);
  external_groups_ = true;
  on_confirmed_ = std::move(on_confirmed);
}

bool WatchHub::FeedGroup(const std::string& name, BrokerEvent event, std::string source_id) {
  std::shared_ptr<Watch> wake;
  {
    absl::MutexLock lock(&mu_);
    auto it = groups_.find(name);
    if (it == groups_.end() || it->second->members.empty()) return false;
    Group& group = *it->second;
    const uint64_t seq = next_fed_seq_++;
    event.id = IdOf(seq);
    group.sources[seq] = Group::Source{std::move(source_id), false};
    group.redeliver.emplace_back(seq, std::make_shared<const BrokerEvent>(std::move(event)));
    wake = WakeOneLocked(group);
  }
  if (wake) wake->Wake();
  return true;
}

std::vector<WatchHub::GroupSpec> WatchHub::LocalGroups() const {
  absl::MutexLock lock(&mu_);
  std::vector<GroupSpec> out;
  for (const auto& [name, group] : groups_) {
    if (!group->members.empty()) out.push_back(GroupSpec{name, group->kinds, group->client_id});
  }
  return out;
}

void WatchHub::UpdateWantedLocked(absl::Time now) {
  EventKindSet wanted;
  for (const auto& [id, state] : watches_) wanted.Add(state.watch->spec().kinds);
  EventKindSet grouped;
  for (const auto& [name, group] : groups_) grouped.Add(group->kinds);
  group_wanted_.store(grouped.bits(), std::memory_order_relaxed);
  wanted.Add(grouped);
  for (size_t kind = 0; kind < kEventKindCount; ++kind) {
    if (wanted_until_[kind] > now) wanted.Add(static_cast<EventKind>(kind));
  }
  wanted_.store(wanted.bits(), std::memory_order_relaxed);
}

size_t WatchHub::watchers() const {
  absl::MutexLock lock(&mu_);
  return watches_.size();
}

}  // namespace pushbroker
