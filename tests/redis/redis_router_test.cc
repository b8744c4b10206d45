// RedisRouter against scripted fake cluster nodes over socketpair(): the
// map from CLUSTER SHARDS, MOVED (followed, and the map patched), ASK
// (ASKING on the importing node for a plain command; a pb1 function waits
// for the slot instead), TRYAGAIN retried until it passes, CLUSTERDOWN past
// the deadline returned as it is, and the fence argument filled per node.
// Also ParseClusterShards on a real reply's shape.
#include "redis/redis_router.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "redis/key_slots.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::redis {
namespace {

using ::pushbroker::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Bulk(absl::string_view text) {
  return absl::StrCat("$", text.size(), "\r\n", text, "\r\n");
}
std::string Array(const std::vector<std::string>& items) {
  return absl::StrCat("*", items.size(), "\r\n", absl::StrJoin(items, ""));
}
std::string Integer(int64_t n) { return absl::StrCat(":", n, "\r\n"); }

RespValue Parse(absl::string_view bytes) {
  RespReader reader;
  reader.Feed(bytes);
  absl::StatusOr<std::optional<RespValue>> value = reader.Next();
  return value.ok() && value->has_value() ? **value : RespValue{};
}

// One shard of a CLUSTER SHARDS reply: slot ranges [first, last] on `master`.
std::string Shard(const std::vector<std::pair<int, int>>& ranges, const std::string& master) {
  const size_t colon = master.rfind(':');
  std::vector<std::string> slots;
  for (const auto& [first, last] : ranges) {
    slots.push_back(Integer(first));
    slots.push_back(Integer(last));
  }
  return Array({Bulk("slots"), Array(slots), Bulk("nodes"),
                Array({Array({Bulk("id"), Bulk(master), Bulk("port"),
                              Integer(std::stoi(master.substr(colon + 1))), Bulk("ip"),
                              Bulk(master.substr(0, colon)), Bulk("role"), Bulk("master"),
                              Bulk("health"), Bulk("online")})})});
}

// Fake nodes: every connect makes a socketpair served by a thread of its
// own, which parses each command and answers what `handler` says; the
// handshake (CLIENT SETNAME, INFO) is answered for it. Commands are logged
// as "<address> <args...>".
class FakeNodes {
 public:
  using Handler =
      std::function<std::string(const std::string& address, const std::vector<std::string>&)>;
  explicit FakeNodes(Handler handler) : handler_(std::move(handler)) {}
  ~FakeNodes() {
    std::vector<std::thread> threads;
    {
      absl::MutexLock lock(&mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
      threads.swap(threads_);
    }
    for (std::thread& thread : threads) thread.join();
    for (int fd : fds_) ::close(fd);
  }

  std::function<int(const std::string&)> Connector() {
    return [this](const std::string& address) {
      int fds[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return -1;
      absl::MutexLock lock(&mu_);
      fds_.push_back(fds[1]);
      threads_.emplace_back([this, fd = fds[1], address] { Serve(fd, address); });
      return fds[0];
    };
  }

  // The commands `address` got that start with `name`.
  std::vector<std::string> Log(const std::string& address, const std::string& name) {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> found;
    for (const std::string& line : log_) {
      if (absl::StartsWith(line, absl::StrCat(address, " ", name))) found.push_back(line);
    }
    return found;
  }

 private:
  void Serve(int fd, const std::string& address) {
    RespReader reader;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) return;
      reader.Feed(absl::string_view(buffer, n));
      for (;;) {
        absl::StatusOr<std::optional<RespValue>> next = reader.Next();
        if (!next.ok() || !next->has_value()) break;
        std::vector<std::string> args;
        for (const RespValue& arg : (*next)->elements) args.push_back(arg.text);
        {
          absl::MutexLock lock(&mu_);
          log_.push_back(absl::StrCat(address, " ", absl::StrJoin(args, " ")));
        }
        std::string reply;
        if (args[0] == "CLIENT") {
          reply = "+OK\r\n";
        } else if (args[0] == "INFO") {
          reply = Bulk(absl::StrCat("# Server\r\nrun_id:run-", address, "\r\n"));
        } else if (args[0] == "ASKING") {
          reply = "+OK\r\n";
        } else {
          reply = handler_(address, args);
        }
        ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
      }
    }
  }

  const Handler handler_;
  absl::Mutex mu_;
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
};

constexpr char kA[] = "10.0.0.1:7001";
constexpr char kB[] = "10.0.0.2:7002";

// A: slots 0-8191, B: 8192-16383, as CLUSTER SHARDS says on either.
std::string TwoShards() { return Array({Shard({{0, 8191}}, kA), Shard({{8192, 16383}}, kB)}); }
// The same after slot 100 moved to B.
std::string TwoShardsMoved() {
  return Array({Shard({{0, 99}, {101, 8191}}, kA), Shard({{100, 100}, {8192, 16383}}, kB)});
}

std::unique_ptr<RedisRouter> StartRouter(FakeNodes& nodes, absl::Duration io_timeout) {
  RedisRouterOptions options;
  options.seeds = {kA};
  options.io_timeout = io_timeout;
  options.connect = nodes.Connector();
  absl::StatusOr<std::unique_ptr<RedisRouter>> router = RedisRouter::Start(std::move(options));
  EXPECT_THAT(router, IsOk());
  return router.ok() ? *std::move(router) : nullptr;
}

TEST(ClusterShardsTest, ParsesSlotsAndTheOnlineMasterOfEachShard) {
  absl::StatusOr<std::vector<ClusterShard>> shards = ParseClusterShards(Parse(TwoShards()));
  ASSERT_THAT(shards, IsOk());
  ASSERT_EQ(shards->size(), 2u);
  EXPECT_EQ((*shards)[1].master, kB);
  const SlotMap map = SlotMap::FromShards(*shards);
  EXPECT_TRUE(map.cluster);
  EXPECT_EQ(map.MasterOf(0), kA);
  EXPECT_EQ(map.MasterOf(8192), kB);
  EXPECT_FALSE(ParseClusterShards(Parse(Array({Bulk("slots")}))).ok());
}

TEST(RedisRouterTest, SendsEachCommandToItsSlotsMasterAndFollowsMoved) {
  // Slot 100 moved from A to B: A says MOVED, B serves it, and the map
  // read again says so too.
  std::atomic<bool> moved{false};
  FakeNodes nodes([&moved](const std::string& address, const std::vector<std::string>& args) {
    if (args[0] == "CLUSTER") return moved.load() ? TwoShardsMoved() : TwoShards();
    if (args[0] == "GET" && address == kA && args[1] == "moved") {
      moved.store(true);
      return std::string("-MOVED 100 ") + kB + "\r\n";
    }
    return Bulk(absl::StrCat(args[1], "@", address));
  });
  auto router = StartRouter(nodes, absl::Seconds(3));
  std::vector<SlotCommand> commands = {
      {10, {"GET", "a"}}, {9000, {"GET", "b"}}, {100, {"GET", "moved"}}};
  std::vector<absl::StatusOr<RespValue>> replies = router->CallAll(commands);
  ASSERT_THAT(replies[0], IsOk());
  EXPECT_EQ(replies[0]->text, absl::StrCat("a@", kA));
  EXPECT_EQ(replies[1]->text, absl::StrCat("b@", kB));
  EXPECT_EQ(replies[2]->text, absl::StrCat("moved@", kB));
  EXPECT_EQ(router->counters().redirects.load(), 1u);
  // The map was patched: the next call for slot 100 goes to B at once.
  ASSERT_THAT(router->Call({100, {"GET", "moved"}}), IsOk());
  EXPECT_EQ(nodes.Log(kA, "GET moved").size(), 1u);
  EXPECT_EQ(nodes.Log(kB, "GET moved").size(), 2u);
}

TEST(RedisRouterTest, AskSendsAPlainCommandWithAskingButAFunctionWaitsForTheSlot) {
  absl::Mutex mu;
  int function_asks = 2;  // A answers ASK twice, then runs the function
  FakeNodes nodes([&](const std::string& address, const std::vector<std::string>& args) {
    if (args[0] == "CLUSTER") return TwoShards();
    if (address == kA && args[0] == "SADD") return std::string("-ASK 200 ") + kB + "\r\n";
    if (address == kA && args[0] == "FCALL") {
      absl::MutexLock lock(&mu);
      if (function_asks-- > 0) return std::string("-ASK 200 ") + kB + "\r\n";
    }
    return Integer(1);
  });
  auto router = StartRouter(nodes, absl::Seconds(3));
  ASSERT_THAT(router->Call({200, {"SADD", "k", "v"}}), IsOk());
  EXPECT_THAT(nodes.Log(kB, "ASKING"), ::testing::SizeIs(1));
  EXPECT_THAT(nodes.Log(kB, "SADD"), ::testing::SizeIs(1));
  absl::StatusOr<RespValue> ran = router->Call({200, {"FCALL", "pb1_touch", "1", "k"}});
  ASSERT_THAT(ran, IsOk());
  EXPECT_EQ(ran->integer, 1);
  EXPECT_THAT(nodes.Log(kA, "FCALL"), ::testing::SizeIs(3));
  EXPECT_THAT(nodes.Log(kB, "FCALL"), ::testing::IsEmpty());
}

TEST(RedisRouterTest, TryAgainIsRetriedAndClusterDownPastTheDeadlineIsReturned) {
  absl::Mutex mu;
  int busy = 2;
  FakeNodes nodes([&](const std::string&, const std::vector<std::string>& args) {
    if (args[0] == "CLUSTER") return TwoShards();
    if (args[1] == "down") return std::string("-CLUSTERDOWN The cluster is down\r\n");
    absl::MutexLock lock(&mu);
    if (busy-- > 0) return std::string("-TRYAGAIN Multiple keys request during rehashing\r\n");
    return std::string("+OK\r\n");
  });
  auto router = StartRouter(nodes, absl::Milliseconds(400));
  absl::StatusOr<RespValue> done = router->Call({5, {"SET", "k", "v"}});
  ASSERT_THAT(done, IsOk());
  EXPECT_EQ(done->text, "OK");
  EXPECT_EQ(router->counters().retries.load(), 2u);
  const absl::Time start = absl::Now();
  absl::StatusOr<RespValue> down = router->Call({5, {"GET", "down"}});
  ASSERT_THAT(down, IsOk());
  EXPECT_THAT(down->text, HasSubstr("CLUSTERDOWN"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(RedisRouterTest, TheFenceArgumentNamesThisNodeAndEveryServingMaster) {
  FakeNodes nodes([](const std::string&, const std::vector<std::string>& args) {
    if (args[0] == "CLUSTER") return TwoShards();
    return Bulk(args[2]);
  });
  auto router = StartRouter(nodes, absl::Seconds(3));
  ASSERT_THAT(router->Call({9000, {"ECHO", "warm-up", "x"}}), IsOk());  // B connects
  SlotCommand fenced{10, {"ECHO", "x", "placeholder"}, 2};
  absl::StatusOr<RespValue> echoed = router->Call(fenced);
  ASSERT_THAT(echoed, IsOk());
  EXPECT_THAT(echoed->text, ::testing::StartsWith(absl::StrCat("run-", kA, "|")));
  EXPECT_THAT(echoed->text, HasSubstr(absl::StrCat("run-", kB)));
}

}  // namespace
}  // namespace pushbroker::redis
