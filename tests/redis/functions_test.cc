// The pb1 Functions on a real redis-server: offsets +1 from 1 with no gap,
// the count, size and age trims (the newest message stays), the replay rule
// checked against broker/replay.cc on random positions and ids, the
// incarnation fence, and the delivered cursor.
#include "redis/functions.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "broker/message_id.h"
#include "broker/replay.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "redis/key_slots.h"
#include "tests/support/redis_server.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::redis {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::RedisServer;
using ::testing::ElementsAre;

constexpr int64_t kNow = 1700000000000;  // ms
constexpr int64_t kDay = 86400000;

struct AppendArgs {
  std::string fence = "run-a";
  int64_t now = kNow;
  int64_t max_n = 1000;
  int64_t max_b = 1 << 20;
  int64_t expires = kNow + kDay;
  bool create = true;
  std::string candidate = "abc";
  std::string idempotency_key;
};

struct ReadResult {
  std::string epoch;
  int64_t first = 0;
  int64_t next = 0;
  std::string reset;
  std::vector<int64_t> offsets;  // of the entries returned
};

class FunctionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<RedisServer> server = RedisServer::Start();
    ASSERT_THAT(server, IsOk());
    server_ = std::make_unique<RedisServer>(*std::move(server));
    absl::StatusOr<std::unique_ptr<RedisClient>> client =
        RedisClient::Start(ConnectionTo(server_->address()));
    ASSERT_THAT(client, IsOk());
    client_ = *std::move(client);
    ASSERT_THAT(LoadFunctions(*client_), IsOk());
  }

  RespValue Call(std::vector<std::string> args) {
    absl::StatusOr<RespValue> reply = client_->Call(std::move(args));
    EXPECT_THAT(reply, IsOk());
    EXPECT_FALSE(reply.ok() && reply->is_error()) << reply->text;
    return reply.ok() ? *reply : RespValue{};
  }

  // The id assigned ("" when skipped).
  std::string Append(const std::string& cid, const std::string& data, AppendArgs a = {}) {
    const MailboxKeys keys = KeysOf(cid);
    const std::string msg_bytes = std::to_string(data.size() + 200);
    RespValue reply =
        Call({"FCALL", "pb1_append", "1", keys.clients, std::to_string(a.now), a.fence,
              std::to_string(a.max_n), std::to_string(a.max_b), std::to_string(a.expires), "", data,
              msg_bytes, a.create ? "1" : "0", a.idempotency_key, "60000", cid, a.candidate});
    if (reply.elements.size() != 1 || reply.elements[0].elements.size() != 4) return "?";
    return reply.elements[0].elements[1].text;
  }

  ReadResult Read(const std::string& cid, const std::string& mode, const std::string& last_id,
                  const std::string& fence = "run-a", const std::string& candidate = "abc",
                  int64_t now = kNow) {
    const MailboxKeys keys = KeysOf(cid);
    std::string id_epoch, id_offset = "0";
    if (std::optional<MessageId> id = MessageId::Parse(last_id); id.has_value()) {
      id_epoch = absl::StrCat(absl::Hex(id->epoch));
      id_offset = std::to_string(id->offset);
    }
    RespValue reply = Call({"FCALL", "pb1_read", "1", keys.clients, std::to_string(now), fence, cid,
                            candidate, "1", mode, id_epoch, id_offset, "0", "", "0"});
    ReadResult out;
    if (reply.elements.size() < 4) return out;
    out.epoch = reply.elements[0].text;
    out.first = reply.elements[1].integer;
    out.next = reply.elements[2].integer;
    out.reset = reply.elements[3].text;
    for (size_t i = 4; i < reply.elements.size(); ++i) {
      int64_t offset = 0;
      EXPECT_TRUE(absl::SimpleAtoi(
          reply.elements[i].text.substr(0, reply.elements[i].text.find(' ')), &offset));
      out.offsets.push_back(offset);
    }
    return out;
  }

  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<RedisClient> client_;
};

TEST(FunctionsKeysTest, AllKeysOfAMailboxShareItsPartitionsSlot) {
  const MailboxKeys keys = KeysOf("alice");
  EXPECT_EQ(HashSlot(keys.meta), 16 * PartitionOf("alice"));
  EXPECT_EQ(HashSlot(keys.list), HashSlot(keys.meta));
  EXPECT_EQ(HashSlot(keys.clients), HashSlot(keys.meta));
}

TEST_F(FunctionsTest, OffsetsStartAtOneAndGrowByOneWithNoGap) {
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(Append("alice", "m"), absl::StrCat("abc-", i));
  const ReadResult read = Read("alice", "after", "abc-2");
  EXPECT_EQ(read.reset, "");
  EXPECT_THAT(read.offsets, ElementsAre(3, 4, 5));
}

TEST_F(FunctionsTest, CountAndSizeTrimsDropTheOldestAndKeepTheNewest) {
  AppendArgs three;
  three.max_n = 3;
  for (int i = 1; i <= 5; ++i) Append("alice", "m", three);
  EXPECT_THAT(Read("alice", "after", "abc-0").offsets, ElementsAre(3, 4, 5));

  AppendArgs small;
  small.max_b = 500;  // two messages of 100 + 200 bytes do not fit
  Append("bob", std::string(100, 'x'), small);
  Append("bob", std::string(100, 'x'), small);
  EXPECT_THAT(Read("bob", "after", "abc-0").offsets, ElementsAre(2));
  Append("carol", std::string(1000, 'x'), small);  // over on its own: the newest stays
  EXPECT_THAT(Read("carol", "after", "abc-0").offsets, ElementsAre(1));
}

TEST_F(FunctionsTest, ExpiredMessagesLeaveFromTheFront) {
  AppendArgs soon;
  soon.expires = kNow + 10;
  Append("alice", "old", soon);
  Append("alice", "new");
  const ReadResult later = Read("alice", "after", "abc-0", "run-a", "def", kNow + 20);
  EXPECT_EQ(later.first, 2);
  EXPECT_EQ(later.reset, "messages_evicted");
  EXPECT_THAT(later.offsets, ElementsAre(2));
}

TEST_F(FunctionsTest, TheReplayRuleMatchesTheCoresOnRandomPositionsAndIds) {
  std::mt19937 random(7);
  for (int mailbox = 0; mailbox < 40; ++mailbox) {
    const std::string cid = absl::StrCat("c", mailbox);
    AppendArgs args;
    args.max_n = 1 + random() % 6;
    const int appended = random() % 10;
    for (int i = 0; i < appended; ++i) Append(cid, "m", args);
    const ReadResult now = Read(cid, "after", "abc-0");
    const MailboxPosition position{0xabc, static_cast<uint64_t>(now.first),
                                   static_cast<uint64_t>(now.next)};
    for (int probe = 0; probe < 12; ++probe) {
      std::string id;
      switch (random() % 4) {
        case 0:
          id = "not-an-id";
          break;
        case 1:
          id = absl::StrCat("fed-", random() % 12);
          break;
        default:
          id = absl::StrCat("abc-", random() % 12);
      }
      const ReplayStart expected = ResolveReplay(position, id);
      const ReadResult got = Read(cid, "after", id);
      EXPECT_EQ(got.reset, expected.reset ? std::string(ResetReasonName(*expected.reset)) : "")
          << cid << " after " << id;
      const int64_t from = got.offsets.empty() ? got.next : got.offsets.front();
      EXPECT_EQ(from, static_cast<int64_t>(expected.from_offset)) << cid << " after " << id;
    }
  }
}

TEST_F(FunctionsTest, UnderAnotherRedisProcessAMailboxTakesANewEpochAndKeepsItsMessages) {
  for (int i = 0; i < 3; ++i) Append("alice", "m");
  // As after a failover that may have lost writes: another run_id.
  const ReadResult fenced = Read("alice", "after", "abc-3", "run-b", "def");
  EXPECT_EQ(fenced.epoch, "def");
  EXPECT_EQ(fenced.reset, "foreign_epoch");
  EXPECT_THAT(fenced.offsets, ElementsAre(1, 2, 3));
  AppendArgs under_b;
  under_b.fence = "run-b";
  under_b.candidate = "123";
  EXPECT_EQ(Append("alice", "m", under_b), "def-4") << "the new epoch continues the offsets";
  EXPECT_EQ(Read("alice", "after", "def-3", "run-b").reset, "");
}

TEST_F(FunctionsTest, TheDeliveredCursorMovesOnlyForward) {
  for (int i = 0; i < 3; ++i) Append("alice", "m");
  const MailboxKeys keys = KeysOf("alice");
  EXPECT_EQ(Call({"FCALL", "pb1_confirm", "1", keys.clients, "alice", "abc", "2"}).integer, 1);
  EXPECT_EQ(Call({"FCALL", "pb1_confirm", "1", keys.clients, "alice", "abc", "1"}).integer, 0);
  EXPECT_EQ(Call({"FCALL", "pb1_confirm", "1", keys.clients, "alice", "fed", "3"}).integer, 0);
  EXPECT_THAT(Read("alice", "undelivered", "").offsets, ElementsAre(3));
}

TEST_F(FunctionsTest, AnIdempotencyKeyAppendsOncePerMailbox) {
  AppendArgs keyed;
  keyed.idempotency_key = "order-1";
  EXPECT_EQ(Append("alice", "m", keyed), "abc-1");
  EXPECT_EQ(Append("alice", "m", keyed), "abc-1") << "the retry answers the first id";
  EXPECT_EQ(Append("alice", "m"), "abc-2");
  EXPECT_THAT(Read("alice", "after", "abc-0").offsets, ElementsAre(1, 2));
}

TEST_F(FunctionsTest, AStreamRouteCountsWhileItsReplicasLeaseHolds) {
  const MailboxKeys keys = KeysOf("alice");
  const std::string lease = std::to_string(kNow + 15000);
  Call({"FCALL", "pb1_read", "1", keys.clients, std::to_string(kNow), "run-a", "alice", "abc", "1",
        "undelivered", "", "0", "0", "r1", lease});
  auto streams = [&](int64_t now) {
    RespValue d = Call(
        {"FCALL", "pb1_describe", "1", keys.clients, std::to_string(now), "run-a", "alice", "abc"});
    return d.elements.size() >= 6 ? d.elements[5].integer : -1;
  };
  EXPECT_EQ(streams(kNow + 1000), 1);
  EXPECT_EQ(streams(kNow + 16000), 0) << "the replica's lease ended";
  Call({"FCALL", "pb1_lease", "1", keys.clients, std::to_string(kNow), "r1",
        std::to_string(kNow + 30000)});
  EXPECT_EQ(streams(kNow + 16000), 0) << "an ended lease drops the route for good";
}

TEST_F(FunctionsTest, AnIdleMailboxIsSweptWithItsTopicsUnlessAStreamHoldsIt) {
  Append("alice", "m");
  Append("bob", "m");
  const MailboxKeys alice = KeysOf("alice"), bob = KeysOf("bob");
  Call({"FCALL", "pb1_topic", "1", alice.clients, std::to_string(kNow), "run-a", "alice", "abc",
        "1", "add", "news", "10"});
  Call({"FCALL", "pb1_read", "1", bob.clients, std::to_string(kNow), "run-a", "bob", "abc", "1",
        "undelivered", "", "0", "0", "r1", std::to_string(kNow + 3 * kDay)});
  auto sweep = [&](const MailboxKeys& keys) {
    return Call({"FCALL", "pb1_sweep", "1", keys.clients, std::to_string(kNow + 2 * kDay),
                 std::to_string(kDay), "100"});
  };
  RespValue swept = sweep(alice);
  ASSERT_EQ(swept.elements.size(), 1u);
  EXPECT_EQ(swept.elements[0].elements[0].text, "alice");
  EXPECT_EQ(swept.elements[0].elements[1].text, "news");
  EXPECT_EQ(Call({"EXISTS", alice.meta, alice.list}).integer, 0);
  EXPECT_TRUE(sweep(bob).elements.empty()) << "bob has a live stream";
  EXPECT_EQ(Call({"EXISTS", bob.meta}).integer, 1);
}

TEST_F(FunctionsTest, WithoutCreateAMissingMailboxIsSkipped) {
  AppendArgs no_create;
  no_create.create = false;
  EXPECT_EQ(Append("ghost", "m", no_create), "");
  const MailboxKeys keys = KeysOf("ghost");
  EXPECT_EQ(Call({"EXISTS", keys.meta, keys.list}).integer, 0);
}

}  // namespace
}  // namespace pushbroker::redis
