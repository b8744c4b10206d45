// WatchHub on its own, on a manual clock: ids, resume and dropped counts,
// filters, groups (sharing, confirmation, timeouts, a member leaving), the
// cut of a watcher that falls behind, and what the hub keeps for nobody.
#include "events/watch_hub.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace pushbroker {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

class WatchHubTest : public ::testing::Test {
 protected:
  explicit WatchHubTest(WatchOptions options = {}) : hub_(options, &clock_) {}

  std::string Emit(const std::string& data, EventKind kind = EventKind::kClientMessage,
                   const std::string& client = "c") {
    BrokerEvent event;
    event.kind = kind;
    event.client_id = client;
    event.data = data;
    event.at = clock_.Now();
    return hub_.Emit(std::move(event));
  }

  std::shared_ptr<WatchHub::Watch> Open(WatchSpec spec) {
    auto watch = hub_.Open(std::move(spec), [this] { ++wakes_; });
    EXPECT_THAT(watch, IsOk());
    return watch.ok() ? *watch : nullptr;
  }

  static std::vector<std::string> Data(const WatchBatch& batch) {
    std::vector<std::string> out;
    for (const auto& event : batch.events) out.push_back(event.data);
    return out;
  }

  ManualClock clock_;
  WatchHub hub_;
  int wakes_ = 0;
};

TEST_F(WatchHubTest, AWatcherSeesEventsFromNowInOrderAndIsWokenForNewOnes) {
  Emit("before");
  auto watch = Open({});
  EXPECT_TRUE(hub_.Take(*watch, 10).events.empty());
  Emit("a");
  EXPECT_EQ(wakes_, 1);
  Emit("b");
  WatchBatch batch = hub_.Take(*watch, 10);
  EXPECT_EQ(Data(batch), (std::vector<std::string>{"a", "b"}));
  EXPECT_LT(batch.events[0].id, batch.events[1].id);  // ids sort as text too
}

TEST_F(WatchHubTest, ResumesAfterAnIdOrCountsWhatWasLost) {
  auto watch = Open({});
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Emit(std::to_string(i)));
  hub_.Close(*watch);
  WatchSpec spec;
  spec.after_id = ids[1];
  auto resumed = Open(spec);
  WatchBatch batch = hub_.Take(*resumed, 10);
  EXPECT_EQ(Data(batch), (std::vector<std::string>{"2", "3", "4"}));
  EXPECT_EQ(batch.events[0].dropped, 0u);

  spec.after_id = "0000000a-000000000001";  // another process's
  auto foreign = Open(spec);
  EXPECT_GE(hub_.Take(*foreign, 10).events.at(0).dropped, 1u);

  spec.after_id = "not-an-id";
  EXPECT_THAT(hub_.Open(spec, [] {}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(WatchHubTest, FiltersByKindAndClient) {
  WatchSpec spec;
  spec.kinds = *ParseEventKinds({"online"});
  spec.client_id = "alice";
  auto watch = Open(spec);
  Emit("1", EventKind::kOnline, "bob");
  Emit("2", EventKind::kOffline, "alice");
  Emit("3", EventKind::kOnline, "alice");
  EXPECT_EQ(Data(hub_.Take(*watch, 10)), (std::vector<std::string>{"3"}));
  EXPECT_THAT(ParseEventKinds({"nope"}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(WatchHubTest, AGroupSharesAndRedeliversWhatIsNotConfirmed) {
  WatchSpec spec;
  spec.group = "g";
  auto a = Open(spec);
  auto b = Open(spec);
  for (int i = 0; i < 4; ++i) Emit(std::to_string(i));
  WatchBatch first = hub_.Take(*a, 2);
  WatchBatch second = hub_.Take(*b, 10);
  EXPECT_EQ(Data(first), (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(Data(second), (std::vector<std::string>{"2", "3"}));
  ASSERT_THAT(hub_.Confirm(*b, {second.events[0].id, second.events[1].id}), IsOk());
  // `a` leaves without confirming: its two go to `b`.
  hub_.Close(*a);
  EXPECT_EQ(Data(hub_.Take(*b, 10)), (std::vector<std::string>{"0", "1"}));
  // Not confirmed in time: back to the group.
  clock_.Advance(WatchOptions{}.ack_timeout + absl::Seconds(1));
  hub_.Tick();
  EXPECT_EQ(Data(hub_.Take(*b, 10)), (std::vector<std::string>{"0", "1"}));
  EXPECT_GE(hub_.redelivered(), 4u);
}

TEST_F(WatchHubTest, WhatALateMemberHeldGoesToAnotherWaitingMemberFirst) {
  WatchSpec spec;
  spec.group = "g";
  // Members that take as soon as they are woken, as the gRPC reactor does.
  std::shared_ptr<WatchHub::Watch> late;
  std::shared_ptr<WatchHub::Watch> other;
  std::vector<std::string> late_got;
  std::vector<std::string> other_got;
  auto take = [this](std::shared_ptr<WatchHub::Watch>& watch, std::vector<std::string>& got) {
    for (const auto& event : hub_.Take(*watch, 10).events) got.push_back(event.data);
  };
  late = *hub_.Open(spec, [&] { take(late, late_got); });
  other = *hub_.Open(spec, [&] { take(other, other_got); });
  Emit("x");
  take(late, late_got);
  take(other, other_got);  // nothing: now it waits
  take(late, late_got);    // so does the late one, still holding "x"
  ASSERT_EQ(late_got, std::vector<std::string>{"x"});
  for (int round = 0; round < 3; ++round) {
    clock_.Advance(WatchOptions{}.ack_timeout + absl::Seconds(1));
    hub_.Tick();
    if (!other_got.empty()) break;
    take(other, other_got);
    take(late, late_got);
  }
  EXPECT_EQ(other_got, std::vector<std::string>{"x"}) << "the first timeout hands it on";
  EXPECT_EQ(late_got, std::vector<std::string>{"x"});
}

TEST_F(WatchHubTest, AGroupOutlivesItsMembersWithinRetention) {
  WatchSpec spec;
  spec.group = "g";
  auto a = Open(spec);
  hub_.Close(*a);
  Emit("while away");
  auto back = Open(spec);
  EXPECT_EQ(Data(hub_.Take(*back, 10)), (std::vector<std::string>{"while away"}));
}

class WatchHubLimitsTest : public WatchHubTest {
 protected:
  static WatchOptions Small() {
    WatchOptions options;
    options.max_unconfirmed = 3;
    options.queue_bytes = 4096;
    options.retention_count = 1000;
    return options;
  }
  WatchHubLimitsTest() : WatchHubTest(Small()) {}
};

TEST_F(WatchHubLimitsTest, AGroupedWatcherHoldsAtMostMaxUnconfirmed) {
  WatchSpec spec;
  spec.group = "g";
  auto a = Open(spec);
  for (int i = 0; i < 5; ++i) Emit(std::to_string(i));
  WatchBatch batch = hub_.Take(*a, 10);
  EXPECT_EQ(batch.events.size(), 3u);
  EXPECT_TRUE(hub_.Take(*a, 10).events.empty());
  absl::StatusOr<bool> more = hub_.Confirm(*a, {batch.events[0].id});
  ASSERT_THAT(more, IsOk());
  EXPECT_TRUE(*more);
  EXPECT_EQ(Data(hub_.Take(*a, 10)), (std::vector<std::string>{"3"}));
  EXPECT_THAT(hub_.Confirm(*a, {"garbage"}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(WatchHubLimitsTest, AWatcherThatFallsBehindIsCut) {
  auto watch = Open({});
  EXPECT_TRUE(hub_.Take(*watch, 1).events.empty());
  Emit("first");
  ASSERT_EQ(hub_.Take(*watch, 1).events.size(), 1u);  // busy writing from here on
  for (int i = 0; i < 100; ++i) Emit(std::string(100, 'x'));
  WatchBatch batch = hub_.Take(*watch, 10);
  EXPECT_THAT(batch.end, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(hub_.watchers_cut(), 1u);
}

TEST(WatchHubRetentionTest, ARingSmallerThanOneEventKeepsNothingAndStaysSound) {
  ManualClock clock;
  WatchOptions options;
  options.retention_bytes = 1;
  WatchHub hub(options, &clock);
  auto watch = hub.Open({}, [] {});
  ASSERT_THAT(watch, IsOk());
  EXPECT_TRUE(hub.Take(**watch, 1).events.empty());
  BrokerEvent event;
  event.at = clock.Now();
  hub.Emit(event);
  ASSERT_EQ(hub.Take(**watch, 1).events.size(), 0u);  // gone before it could be read
  hub.Emit(event);  // the watcher is busy and behind: no ring to measure against
  hub.Emit(event);
  EXPECT_TRUE(hub.Take(**watch, 10).events.empty());
}

TEST_F(WatchHubTest, KeepsNothingNobodyWants) {
  EXPECT_FALSE(hub_.Wants(EventKind::kDelivered));
  WatchSpec spec;
  spec.kinds = *ParseEventKinds({"delivered"});
  auto watch = Open(spec);
  EXPECT_TRUE(hub_.Wants(EventKind::kDelivered));
  EXPECT_FALSE(hub_.Wants(EventKind::kOnline));
  hub_.Close(*watch);
  // Still kept for a resume within retention, then no longer.
  EXPECT_TRUE(hub_.Wants(EventKind::kDelivered));
  clock_.Advance(WatchOptions{}.retention_age + absl::Seconds(1));
  hub_.Tick();
  EXPECT_FALSE(hub_.Wants(EventKind::kDelivered));
}

// Emitters and group members on their own threads, members woken by the
// hub: every event is taken exactly once (run under TSan too).
TEST(WatchHubConcurrencyTest, EmittersAndMembersOnManyThreadsLoseAndRepeatNothing) {
  SystemClock clock;
  WatchHub hub(WatchOptions{}, &clock);
  constexpr int kEmitters = 4;
  constexpr int kPerEmitter = 2500;
  constexpr int kMembers = 3;
  struct Member {
    std::shared_ptr<WatchHub::Watch> watch;
    absl::Mutex mu;
    bool woken ABSL_GUARDED_BY(mu) = false;
  };
  std::vector<std::unique_ptr<Member>> members;
  WatchSpec spec;
  spec.group = "g";
  for (int i = 0; i < kMembers; ++i) {
    auto member = std::make_unique<Member>();
    Member* raw = member.get();
    auto watch = hub.Open(spec, [raw] {
      absl::MutexLock lock(&raw->mu);
      raw->woken = true;
    });
    ASSERT_THAT(watch, IsOk());
    member->watch = *watch;
    members.push_back(std::move(member));
  }
  std::atomic<int> taken{0};
  absl::Mutex seen_mu;
  std::set<std::string> seen;
  std::vector<std::thread> threads;
  for (int m = 0; m < kMembers; ++m) {
    threads.emplace_back([&, m] {
      Member& member = *members[m];
      while (taken.load() < kEmitters * kPerEmitter) {
        WatchBatch batch = hub.Take(*member.watch, 16);
        if (batch.events.empty()) {
          absl::MutexLock lock(&member.mu);
          member.mu.AwaitWithTimeout(absl::Condition(&member.woken), absl::Milliseconds(10));
          member.woken = false;
          continue;
        }
        std::vector<std::string> ids;
        for (const auto& event : batch.events) {
          ids.push_back(event.id);
          absl::MutexLock lock(&seen_mu);
          EXPECT_TRUE(seen.insert(event.data).second) << "twice: " << event.data;
        }
        taken.fetch_add(static_cast<int>(batch.events.size()));
        ASSERT_THAT(hub.Confirm(*member.watch, ids), IsOk());
      }
    });
  }
  for (int e = 0; e < kEmitters; ++e) {
    threads.emplace_back([&, e] {
      for (int i = 0; i < kPerEmitter; ++i) {
        BrokerEvent event;
        event.kind = EventKind::kClientMessage;
        event.data = absl::StrCat(e, ":", i);
        event.at = clock.Now();
        hub.Emit(std::move(event));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(seen.size(), static_cast<size_t>(kEmitters * kPerEmitter));
  for (auto& member : members) hub.Close(*member->watch);
}

}  // namespace
}  // namespace pushbroker
