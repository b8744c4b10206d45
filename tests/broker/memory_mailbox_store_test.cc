#include "broker/memory_mailbox_store.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace pushbroker {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

std::shared_ptr<const Payload> Text(std::string data) {
  return std::make_shared<const Payload>(Payload{"", std::move(data)});
}

class MemoryMailboxStoreTest : public ::testing::Test {
 protected:
  MemoryMailboxStoreTest() : store_(RetentionPolicy{5, absl::Hours(1)}) {}

  MessageId Append(const std::string& client, const std::string& data, absl::Time now = kStart,
                   absl::Time expires = absl::InfiniteFuture()) {
    auto appended = store_.Append({client}, Text(data), now, expires, "");
    EXPECT_THAT(appended, IsOk());
    return appended->front().id;
  }

  ReadResult Read(const std::string& client, ReadRequest request, absl::Time now = kStart) {
    auto result = store_.Read(client, request, now);
    EXPECT_THAT(result, IsOk());
    return *result;
  }

  static std::vector<std::string> Data(const ReadResult& result) {
    std::vector<std::string> out;
    for (const Message& m : result.messages) out.push_back(m.payload->data);
    return out;
  }

  MemoryMailboxStore store_;
};

TEST_F(MemoryMailboxStoreTest, OffsetsGrowByOnePerMailboxWithinOneEpoch) {
  const MessageId a1 = Append("alice", "a1");
  const MessageId a2 = Append("alice", "a2");
  const MessageId b1 = Append("bob", "b1");
  EXPECT_EQ(a1.offset, 1u);
  EXPECT_EQ(a2.offset, 2u);
  EXPECT_EQ(a1.epoch, a2.epoch);
  EXPECT_EQ(b1.offset, 1u);
  EXPECT_NE(a1.epoch, b1.epoch);
}

TEST_F(MemoryMailboxStoreTest, KeepsAtMostMaxMessagesAndReportsEviction) {
  MessageId last;
  for (int i = 1; i <= 8; ++i) last = Append("alice", "m" + std::to_string(i));
  ReadResult all = Read("alice", {});
  EXPECT_EQ(Data(all), (std::vector<std::string>{"m4", "m5", "m6", "m7", "m8"}));

  ReadRequest after2;
  after2.from = ReadRequest::From::kAfterId;
  after2.after_id = MessageId{last.epoch, 2}.ToString();
  ReadResult evicted = Read("alice", after2);
  EXPECT_EQ(evicted.reset, ResetReason::kMessagesEvicted);
  EXPECT_EQ(Data(evicted).size(), 5u);

  ReadRequest after3 = after2;
  after3.after_id = MessageId{last.epoch, 3}.ToString();
  ReadResult exact = Read("alice", after3);
  EXPECT_FALSE(exact.reset.has_value());
  EXPECT_EQ(Data(exact).front(), "m4");
}

TEST_F(MemoryMailboxStoreTest, ReplaysExactlyAfterAnIdInOrder) {
  Append("alice", "1");
  const MessageId second = Append("alice", "2");
  Append("alice", "3");
  Append("alice", "4");
  ReadRequest request;
  request.from = ReadRequest::From::kAfterId;
  request.after_id = second.ToString();
  EXPECT_EQ(Data(Read("alice", request)), (std::vector<std::string>{"3", "4"}));
}

TEST_F(MemoryMailboxStoreTest, LimitCutsAndSaysMore) {
  for (int i = 0; i < 4; ++i) Append("alice", std::to_string(i));
  ReadRequest request;
  request.limit = 3;
  ReadResult result = Read("alice", request);
  EXPECT_EQ(result.messages.size(), 3u);
  EXPECT_TRUE(result.more);
}

TEST_F(MemoryMailboxStoreTest, UndeliveredCursorAdvancesOnlyWhenConfirmed) {
  Append("alice", "offline1");
  Append("alice", "offline2");
  ReadRequest undelivered;
  undelivered.from = ReadRequest::From::kUndelivered;
  ReadResult first = Read("alice", undelivered);
  EXPECT_EQ(Data(first), (std::vector<std::string>{"offline1", "offline2"}));
  // Reading is not receiving: the same answer until the client confirms.
  EXPECT_EQ(Data(Read("alice", undelivered)), (std::vector<std::string>{"offline1", "offline2"}));
  store_.ConfirmDelivered("alice", first.messages.back().id);
  EXPECT_TRUE(Read("alice", undelivered).messages.empty());
  Append("alice", "later");
  EXPECT_EQ(Data(Read("alice", undelivered)), (std::vector<std::string>{"later"}));
  // An id past the mailbox, or of another epoch, confirms nothing.
  store_.ConfirmDelivered("alice", MessageId{first.position.epoch, 99});
  store_.ConfirmDelivered("alice", MessageId{first.position.epoch + 1, 3});
  EXPECT_EQ(Data(Read("alice", undelivered)), (std::vector<std::string>{"later"}));
}

TEST_F(MemoryMailboxStoreTest, MessagesExpireAfterTheirTtl) {
  Append("alice", "short", kStart, kStart + absl::Minutes(1));
  Append("alice", "long", kStart);
  EXPECT_EQ(Data(Read("alice", {}, kStart + absl::Minutes(2))), (std::vector<std::string>{"long"}));
  // The mailbox TTL (1h) caps every message.
  EXPECT_TRUE(Read("alice", {}, kStart + absl::Hours(2)).messages.empty());
}

TEST_F(MemoryMailboxStoreTest, IdleMailboxesExpireUnlessOnline) {
  Append("alice", "x");
  Append("bob", "y");
  auto nobody_online = [](const std::string&) { return false; };
  auto alice_online = [](const std::string& id) { return id == "alice"; };
  EXPECT_TRUE(store_.ExpireIdle(kStart + absl::Minutes(30), nobody_online).empty());
  EXPECT_EQ(store_.ExpireIdle(kStart + absl::Hours(2), alice_online),
            std::vector<std::string>{"bob"});
  EXPECT_TRUE(store_.Describe("alice", kStart + absl::Hours(2)).ok());
  EXPECT_THAT(store_.Describe("bob", kStart), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(MemoryMailboxStoreTest, RecreatedMailboxHasANewEpoch) {
  const MessageId before = Append("alice", "x");
  ASSERT_TRUE(store_.Delete("alice").ok());
  const MessageId after = Append("alice", "y");
  EXPECT_NE(before.epoch, after.epoch);
  ReadRequest request;
  request.from = ReadRequest::From::kAfterId;
  request.after_id = before.ToString();
  EXPECT_EQ(Read("alice", request).reset, ResetReason::kForeignEpoch);
}

TEST_F(MemoryMailboxStoreTest, TopicsTrackMembersBothWays) {
  ASSERT_TRUE(store_.AddToTopic("alice", "room", kStart).ok());
  ASSERT_TRUE(store_.AddToTopic("bob", "room", kStart).ok());
  EXPECT_EQ(*store_.TopicMembers("room"), (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(store_.Describe("alice", kStart)->topics, (std::vector<std::string>{"room"}));
  ASSERT_TRUE(store_.RemoveFromTopic("alice", "room").ok());
  EXPECT_THAT(store_.RemoveFromTopic("alice", "room"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_TRUE(store_.Delete("bob").ok());
  EXPECT_TRUE(store_.TopicMembers("room")->empty());
}

TEST_F(MemoryMailboxStoreTest, MissingMailboxIsNotFoundUnlessCreated) {
  EXPECT_THAT(store_.Read("ghost", {}, kStart), StatusIs(absl::StatusCode::kNotFound));
  ReadRequest create;
  create.create = true;
  EXPECT_TRUE(store_.Read("ghost", create, kStart).ok());
  EXPECT_TRUE(store_.Describe("ghost", kStart).ok());
}

}  // namespace
}  // namespace pushbroker
