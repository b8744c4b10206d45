// The in-memory store's limits: bytes per mailbox, the global memory budget
// (largest mailboxes lose their oldest first), the mailbox count, and topics
// per client. Each refusal leaves what was stored untouched.
#include <memory>
#include <string>
#include <vector>

#include "broker/memory_mailbox_store.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace pushbroker {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

// A payload whose MessageBytes is exactly `bytes` (at least the overhead).
std::shared_ptr<const Payload> Sized(size_t bytes, char fill = 'x') {
  const size_t overhead = MessageBytes(Payload{});
  return std::make_shared<const Payload>(Payload{"", std::string(bytes - overhead, fill)});
}

std::vector<uint64_t> Offsets(MemoryMailboxStore& store, const std::string& client) {
  auto read = store.Read(client, ReadRequest{}, kNow);
  EXPECT_THAT(read, IsOk());
  std::vector<uint64_t> offsets;
  for (const Message& m : read->messages) offsets.push_back(m.id.offset);
  return offsets;
}

absl::Status AppendTo(MemoryMailboxStore& store, std::vector<std::string> clients, size_t bytes) {
  return store.Append(clients, Sized(bytes), kNow, absl::InfiniteFuture(), "").status();
}

TEST(StoreLimitsTest, AMailboxPastItsByteLimitLosesItsOldest) {
  RetentionPolicy retention;
  retention.max_bytes = 10000;
  MemoryMailboxStore store(retention);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(AppendTo(store, {"alice"}, 3000).ok());
  EXPECT_EQ(Offsets(store, "alice"), (std::vector<uint64_t>{3, 4, 5}));
  const StoreStats stats = store.Stats();
  EXPECT_EQ(stats.bytes, 9000u);
  EXPECT_EQ(stats.evicted_size, 2u);
}

TEST(StoreLimitsTest, OverTheBudgetTheLargestMailboxesLoseTheirOldestFirst) {
  RetentionPolicy retention;
  retention.memory_budget_bytes = 64000;  // evicts down to 63000
  MemoryMailboxStore store(retention);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(AppendTo(store, {"big"}, 1000).ok());     // 40000
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(AppendTo(store, {"medium"}, 1000).ok());  // 20000
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(AppendTo(store, {"small"}, 1000).ok());    // 3000
  EXPECT_EQ(store.Stats().evicted_budget, 0u);
  ASSERT_TRUE(AppendTo(store, {"small"}, 2000).ok());  // 65000: over
  ASSERT_TRUE(store.AwaitEvictionForTesting());        // the evictor runs on its own thread
  const StoreStats stats = store.Stats();
  EXPECT_LE(stats.bytes, 64000u);
  EXPECT_EQ(stats.evicted_budget, 2u);
  // Only the largest mailbox paid, and with its oldest messages.
  std::vector<uint64_t> big = Offsets(store, "big");
  EXPECT_EQ(big.front(), 3u);
  EXPECT_EQ(big.back(), 40u);
  EXPECT_EQ(Offsets(store, "medium").size(), 20u);
  EXPECT_EQ(Offsets(store, "small").size(), 4u);
  // A replay from before the evicted messages is a reset, not a silent gap.
  ReadRequest resume;
  resume.from = ReadRequest::From::kAfterId;
  auto first = store.Read("big", ReadRequest{}, kNow);
  ASSERT_THAT(first, IsOk());
  resume.after_id = MessageId{first->position.epoch, 1}.ToString();
  auto replay = store.Read("big", resume, kNow);
  ASSERT_THAT(replay, IsOk());
  ASSERT_TRUE(replay->reset.has_value());
  EXPECT_EQ(*replay->reset, ResetReason::kMessagesEvicted);
}

TEST(StoreLimitsTest, EqualMailboxesShareTheEviction) {
  RetentionPolicy retention;
  retention.memory_budget_bytes = 64000;
  MemoryMailboxStore store(retention);
  for (int i = 0; i < 32; ++i) ASSERT_TRUE(AppendTo(store, {"a", "b"}, 1000).ok());  // 64000
  ASSERT_TRUE(AppendTo(store, {"c"}, 10000).ok());
  ASSERT_TRUE(store.AwaitEvictionForTesting());
  const size_t a = Offsets(store, "a").size();
  const size_t b = Offsets(store, "b").size();
  EXPECT_LE(store.Stats().bytes, 64000u);
  EXPECT_LE(a > b ? a - b : b - a, 1u);
  EXPECT_EQ(Offsets(store, "c").size(), 1u);
}

TEST(StoreLimitsTest, APublishPastTheBudgetNeverEvictsOnItsOwnThread) {
  RetentionPolicy retention;
  retention.memory_budget_bytes = 1000000;
  MemoryMailboxStore store(retention);
  std::vector<std::string> many;
  for (int i = 0; i < 5000; ++i) many.push_back("m" + std::to_string(i));
  // Each broadcast-like publish is 5000 x 1000 bytes: five times the budget.
  // Each waits for the evictor to finish the last one's excess first: a pass
  // that runs during an append trims only the mailboxes appended so far, and
  // the fair share checked below is that of a pass over a whole publish.
  for (int round = 0; round < 4; ++round) {
    ASSERT_TRUE(store.AwaitEvictionForTesting());
    ASSERT_TRUE(AppendTo(store, many, 1000).ok());
  }
  ASSERT_TRUE(store.AwaitEvictionForTesting());
  const StoreStats stats = store.Stats();
  EXPECT_LE(stats.bytes, 1000000u);
  EXPECT_GT(stats.evicted_budget, 0u);
  // Every mailbox still holds its newest message or none; none holds more
  // than the fair share a level gives. Messages cannot be split, so the
  // last pass takes one message each from the mailboxes above the level
  // until the total is within the target, and stops there: one message over
  // the share is the most a mailbox keeps (1 here, so 2 at most).
  size_t holding = 0;
  for (const std::string& client : many) {
    const std::vector<uint64_t> offsets = Offsets(store, client);
    EXPECT_LE(offsets.size(), 2u) << client;
    if (!offsets.empty()) {
      EXPECT_EQ(offsets.back(), 4u) << client;
      ++holding;
    }
  }
  EXPECT_GT(holding, 0u);
}

TEST(StoreLimitsTest, PastMaxMailboxesAPublishIsRefusedWhole) {
  StoreLimits limits;
  limits.max_mailboxes = 3;
  MemoryMailboxStore store(RetentionPolicy{}, limits);
  ASSERT_TRUE(AppendTo(store, {"a", "b"}, 1000).ok());
  absl::Status refused = AppendTo(store, {"a", "c", "d"}, 1000);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_NE(refused.message().find("--max_mailboxes=3"), std::string::npos);
  EXPECT_EQ(Offsets(store, "a").size(), 1u);  // nothing reached "a" either
  EXPECT_EQ(store.Stats().mailboxes, 2u);
  // Existing mailboxes still take messages; one more mailbox fits.
  ASSERT_TRUE(AppendTo(store, {"a", "b", "c"}, 1000).ok());
  ReadRequest create;
  create.create = true;
  EXPECT_THAT(store.Read("e", create, kNow), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(store.AddToTopic("f", "news", kNow), StatusIs(absl::StatusCode::kResourceExhausted));
  // Deleting one makes room.
  ASSERT_TRUE(store.Delete("c").ok());
  EXPECT_TRUE(store.Read("e", create, kNow).ok());
}

TEST(StoreLimitsTest, TopicsPerClientAreCapped) {
  StoreLimits limits;
  limits.max_topics_per_client = 2;
  MemoryMailboxStore store(RetentionPolicy{}, limits);
  ASSERT_TRUE(store.AddToTopic("alice", "t1", kNow).ok());
  ASSERT_TRUE(store.AddToTopic("alice", "t2", kNow).ok());
  EXPECT_TRUE(store.AddToTopic("alice", "t2", kNow).ok());  // already in: no new room needed
  absl::Status refused = store.AddToTopic("alice", "t3", kNow);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_NE(refused.message().find("--max_topics_per_client=2"), std::string::npos);
  EXPECT_TRUE(store.TopicMembers("t3")->empty());
  ASSERT_TRUE(store.RemoveFromTopic("alice", "t1").ok());
  EXPECT_TRUE(store.AddToTopic("alice", "t3", kNow).ok());
}

}  // namespace
}  // namespace pushbroker
