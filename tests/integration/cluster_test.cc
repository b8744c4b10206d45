// Brokers on a real Redis Cluster (3 masters, a replica each), over real
// gRPC and HTTP, each stream checked by Browser's invariant (offsets
// contiguous within an epoch, a new epoch only after a reset): publishes and
// reconnects spread over brokers and masters; a master killed under load
// (failover); a reshard of 200 slots under load; a master stalled past
// --redis_io_timeout (outcome unknown, a keyed retry adds nothing); the
// library flushed; a broker killed in the middle of a keyed broadcast to
// 10,000 mailboxes, completed exactly once by a retry elsewhere.
#include <signal.h>

#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "broker/message_id.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "redis/cluster_shards.h"
#include "redis/functions.h"
#include "redis/key_slots.h"
#include "tests/support/broker_replicas.h"
#include "tests/support/child_process.h"
#include "tests/support/redis_cluster.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::testing {
namespace {

using ::testing::HasSubstr;

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisCluster>> cluster = RedisCluster::Start();
    ASSERT_THAT(cluster, IsOk());
    cluster_ = *std::move(cluster);
  }

  void TearDown() override {
    for (Replica& replica : replicas_) {
      if (replica.app) replica.app->Shutdown();
    }
  }

  // The node serving each client's partition now, by client.
  std::map<std::string, int> MastersOf(const std::vector<std::string>& clients) {
    std::map<std::string, int> masters;
    for (const std::string& client : clients) {
      absl::StatusOr<int> master =
          cluster_->MasterOf(redis::HashSlot(redis::RegistryKey(redis::PartitionOf(client))));
      masters[client] = master.ok() ? *master : -1;
    }
    return masters;
  }

  // `n` client ids per master (the first three nodes), "<prefix><i>".
  std::vector<std::string> ClientsOnEachMaster(const std::string& prefix, int n) {
    std::vector<std::string> clients;
    std::map<int, int> count;
    for (int i = 0; clients.size() < static_cast<size_t>(3 * n) && i < 10000; ++i) {
      const std::string client = absl::StrCat(prefix, i);
      const int master = MastersOf({client})[client];
      if (master >= 0 && count[master] < n) {
        ++count[master];
        clients.push_back(client);
      }
    }
    return clients;
  }

  // Publishes `data` to `client` through `via` with an idempotency key,
  // retrying while the answer is UNAVAILABLE (a failover, a slot moving).
  grpc::Status PublishKeyed(Replica& via, const std::string& client, const std::string& data,
                            v1::PublishResponse* response) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    grpc::Status status;
    do {
      status = PublishVia(via, client, data, response, absl::StrCat(client, "/", data));
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return status;
      absl::SleepFor(absl::Milliseconds(50));
    } while (absl::Now() < deadline);
    return status;
  }

  // Reads `client`'s stream into `browser` until it holds `last_data`,
  // reopening it (round-robin over the replicas, with Last-Event-ID) each
  // time the broker ends it, as EventSource does.
  void ReadUntil(Browser& browser, std::unique_ptr<SseClient>& stream, const std::string& client,
                 const std::string& last_data, absl::Duration timeout = absl::Seconds(30)) {
    const absl::Time deadline = absl::Now() + timeout;
    int reopened = 0;
    while ((browser.data.empty() || browser.data.back() != last_data) && absl::Now() < deadline) {
      if (stream == nullptr || stream->ended()) {
        stream = StreamAt(replicas_[++reopened % replicas_.size()], client, browser.last_event_id);
        if (stream == nullptr || stream->status() != 200) {
          absl::SleepFor(absl::Milliseconds(100));
          continue;
        }
      }
      std::optional<SseEvent> event = stream->Next(absl::Milliseconds(500));
      if (event.has_value()) browser.Take(*event);
    }
  }

  // Reads every client's stream to its last message ("0" .. count-1, one
  // per publish round) and checks it got each exactly once, in order, with
  // no reset.
  void ExpectWholeSequences(std::vector<Browser>& browsers,
                            std::vector<std::unique_ptr<SseClient>>& streams,
                            const std::vector<std::string>& clients, int count) {
    for (size_t c = 0; c < clients.size(); ++c) {
      ReadUntil(browsers[c], streams[c], clients[c], std::to_string(count - 1));
      EXPECT_EQ(browsers[c].failure, "") << clients[c];
      EXPECT_EQ(browsers[c].resets, 0) << clients[c];
      ASSERT_EQ(browsers[c].data.size(), static_cast<size_t>(count)) << clients[c];
      for (int m = 0; m < count; ++m) ASSERT_EQ(browsers[c].data[m], std::to_string(m));
    }
  }

  std::unique_ptr<RedisCluster> cluster_;
  std::vector<Replica> replicas_;
};

// Publishes go round-robin through three brokers, to clients on every
// master, while each browser reconnects round-robin every 50 messages.
TEST_F(ClusterTest, PublishesAndReconnectsAcrossBrokersAndMastersMissNothing) {
  for (const char* name : {"a", "b", "c"}) {
    replicas_.push_back(StartReplica(cluster_->seeds(), name));
  }
  const std::vector<std::string> clients = ClientsOnEachMaster("rr", 1);
  ASSERT_EQ(clients.size(), 3u);
  constexpr int kPerClient = 700;  // 2,100 messages in all
  std::vector<Browser> browsers(clients.size());
  std::vector<std::unique_ptr<SseClient>> streams(clients.size());
  for (int m = 0; m < kPerClient; ++m) {
    for (size_t c = 0; c < clients.size(); ++c) {
      if (m % 50 == 0) {
        if (streams[c] != nullptr) {
          for (const SseEvent& event : streams[c]->Take(20, absl::Seconds(5))) {
            browsers[c].Take(event);
          }
        }
        streams[c] = StreamAt(replicas_[(m / 50 + c) % 3], clients[c], browsers[c].last_event_id);
        ASSERT_NE(streams[c], nullptr);
        ASSERT_EQ(streams[c]->status(), 200);
      }
      v1::PublishResponse response;
      ASSERT_TRUE(
          PublishVia(replicas_[(m + c) % 3], clients[c], std::to_string(m), &response).ok());
    }
  }
  ExpectWholeSequences(browsers, streams, clients, kPerClient);

  // FUNCTION FLUSH on every master: the next calls load the library again.
  for (size_t node = 0; node < 3; ++node) {
    ASSERT_THAT(cluster_->Call(node, {"FUNCTION", "FLUSH"}), IsOk());
  }
  for (const std::string& client : clients) {
    v1::PublishResponse response;
    const grpc::Status sent = PublishVia(replicas_[0], client, "after flush", &response);
    EXPECT_TRUE(sent.ok()) << sent.error_message();
    EXPECT_EQ(MessageId::Parse(response.id())->offset, static_cast<uint64_t>(kPerClient + 1));
  }
}

// SIGKILL of the master serving some clients while publishes go on: its
// replica takes over (about 3 s at node timeout 2 s). Publishes to its
// slots are UNAVAILABLE meanwhile and succeed on a keyed retry; clients on
// the other masters see nothing at all; clients on the failed master get
// every acknowledged message, or a reset saying their mailbox started a
// new epoch (the fence: the new master may lack acknowledged writes).
TEST_F(ClusterTest, AMasterKilledUnderLoadFailsOverAndNoStreamHasASilentGap) {
  ASSERT_THAT(cluster_->AwaitHealthy(absl::Seconds(30), /*whole_view=*/true), IsOk());
  replicas_.push_back(StartReplica(cluster_->seeds(), "a"));
  replicas_.push_back(StartReplica(cluster_->seeds(), "b"));
  const std::vector<std::string> clients = ClientsOnEachMaster("fo", 4);
  ASSERT_EQ(clients.size(), 12u);
  std::map<std::string, int> masters = MastersOf(clients);
  const int doomed = masters[clients[0]];
  std::vector<Browser> browsers(clients.size());
  std::vector<std::unique_ptr<SseClient>> streams(clients.size());
  for (size_t c = 0; c < clients.size(); ++c) {
    streams[c] = StreamAt(replicas_[1], clients[c], "");
    ASSERT_NE(streams[c], nullptr);
    ASSERT_EQ(streams[c]->status(), 200);
  }
  constexpr int kRounds = 40;
  for (int m = 0; m < kRounds; ++m) {
    if (m == 15) cluster_->node(doomed).Kill();
    for (size_t c = 0; c < clients.size(); ++c) {
      v1::PublishResponse response;
      const grpc::Status sent =
          PublishKeyed(replicas_[0], clients[c], std::to_string(m), &response);
      ASSERT_TRUE(sent.ok()) << clients[c] << " " << m << ": " << sent.error_message();
    }
  }
  absl::StatusOr<int> promoted =
      cluster_->MasterOf(redis::HashSlot(redis::RegistryKey(redis::PartitionOf(clients[0]))));
  ASSERT_THAT(promoted, IsOk());
  EXPECT_NE(*promoted, doomed) << "a replica took over the killed master's slots";
  for (size_t c = 0; c < clients.size(); ++c) {
    ReadUntil(browsers[c], streams[c], clients[c], std::to_string(kRounds - 1));
    EXPECT_EQ(browsers[c].failure, "") << clients[c];
    ASSERT_FALSE(browsers[c].data.empty()) << clients[c];
    EXPECT_EQ(browsers[c].data.back(), std::to_string(kRounds - 1)) << clients[c];
    if (masters[clients[c]] != doomed) {
      EXPECT_EQ(browsers[c].resets, 0) << clients[c] << " is on a master that stayed up";
      ASSERT_EQ(browsers[c].data.size(), static_cast<size_t>(kRounds)) << clients[c];
      for (int m = 0; m < kRounds; ++m) EXPECT_EQ(browsers[c].data[m], std::to_string(m));
    } else if (browsers[c].resets == 0) {
      // Nothing was lost in the replication window for this one: then the
      // sequence is whole.
      ASSERT_EQ(browsers[c].data.size(), static_cast<size_t>(kRounds)) << clients[c];
    }
  }
}

// A reshard of 200 slots (about 12 partitions) from one master to another
// while publishes go on: calls on a slot in migration wait until it has
// moved, the streams of moved partitions resume from their last id on the
// new master's feed, and no mailbox changes epoch (the source master still
// serves, so the fence trusts what it wrote).
TEST_F(ClusterTest, AReshardUnderLoadMovesSlotsWithNothingLostDuplicatedOrReset) {
  replicas_.push_back(StartReplica(cluster_->seeds(), "a"));
  replicas_.push_back(StartReplica(cluster_->seeds(), "b"));
  // redis-cli moves the source's first slots: partitions 0-12 live there.
  std::vector<std::string> clients;
  for (int i = 0; clients.size() < 8; ++i) {
    const std::string client = absl::StrCat("mv", i);
    if (redis::PartitionOf(client) * (redis::kClusterSlots / redis::kPartitions) < 200) {
      clients.push_back(client);
    }
  }
  for (const std::string& client : ClientsOnEachMaster("st", 1)) clients.push_back(client);
  ASSERT_EQ(MastersOf({clients[0]})[clients[0]], 0);
  std::vector<Browser> browsers(clients.size());
  std::vector<std::unique_ptr<SseClient>> streams(clients.size());
  for (size_t c = 0; c < clients.size(); ++c) {
    streams[c] = StreamAt(replicas_[1], clients[c], "");
    ASSERT_NE(streams[c], nullptr);
    ASSERT_EQ(streams[c]->status(), 200);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0};
  std::string publish_failure;
  std::thread publisher([&] {
    for (int m = 0; !stop.load() && m < 100000; ++m) {
      for (const std::string& client : clients) {
        v1::PublishResponse response;
        const grpc::Status sent = PublishKeyed(replicas_[0], client, std::to_string(m), &response);
        if (!sent.ok()) {
          publish_failure = absl::StrCat(client, " ", m, ": ", sent.error_message());
          return;
        }
      }
      rounds.store(m + 1);
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  while (rounds.load() < 5) absl::SleepFor(absl::Milliseconds(10));
  const absl::Status resharded = cluster_->Reshard(0, 1, 200);
  const int at_end = rounds.load();
  while (rounds.load() < at_end + 5 && publish_failure.empty()) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  stop.store(true);
  publisher.join();
  ASSERT_THAT(resharded, IsOk());
  ASSERT_EQ(publish_failure, "");
  EXPECT_EQ(MastersOf({clients[0]})[clients[0]], 1) << "the slot moved";
  const int published = rounds.load();
  ExpectWholeSequences(browsers, streams, clients, published);
}

// A master stopped (SIGSTOP) for a second, less than the node timeout and
// more than --redis_io_timeout: the publish sent to it fails "outcome
// unknown"; once it runs again, a retry with the same key appends nothing.
TEST_F(ClusterTest, AStalledMasterGivesOutcomeUnknownAndAKeyedRetryAddsNoDuplicate) {
  replicas_.push_back(StartReplica(cluster_->seeds(), "a", absl::Milliseconds(300)));
  const std::string client = ClientsOnEachMaster("stall", 1)[0];
  const int master = MastersOf({client})[client];
  v1::PublishResponse response;
  ASSERT_TRUE(PublishVia(replicas_[0], client, "before", &response).ok());
  cluster_->node(master).Pause();
  const grpc::Status stalled = PublishVia(replicas_[0], client, "once", &response, "key-1");
  absl::SleepFor(absl::Milliseconds(700));
  cluster_->node(master).Resume();
  EXPECT_EQ(stalled.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(stalled.error_message(), HasSubstr("outcome unknown"));
  grpc::Status retried;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    retried = PublishVia(replicas_[0], client, "once", &response, "key-1");
  } while (!retried.ok() && absl::Now() < deadline);
  ASSERT_TRUE(retried.ok()) << retried.error_message();
  absl::StatusOr<HistoryPage> history = replicas_[0].app->broker().History(client, "", 0);
  ASSERT_THAT(history, IsOk());
  std::vector<std::string> data;
  for (const Message& message : history->messages) data.push_back(message.payload->data);
  EXPECT_THAT(data, ::testing::ElementsAre("before", "once"));
  EXPECT_TRUE(response.duplicate()) << "the stalled call ran once its master woke";
}

// The lost-write recipe on a cluster: the master's replica is stopped, two
// messages are acknowledged by the master alone, the master is killed and
// the replica, resumed, takes over without them. The next message takes a
// new epoch (its writer is gone, so the fence trusts nothing it wrote), and
// a browser that held the lost ids gets a reset and what was kept, never a
// silent gap or a reused id.
TEST_F(ClusterTest, WritesLostInAFailoverBecomeAResetNeverASilentGap) {
  ASSERT_THAT(cluster_->AwaitHealthy(absl::Seconds(30), /*whole_view=*/true), IsOk());
  replicas_.push_back(StartReplica(cluster_->seeds(), "a", absl::Milliseconds(500)));
  const std::string client = ClientsOnEachMaster("lw", 1)[0];
  const int master = MastersOf({client})[client];
  absl::StatusOr<int> replica = cluster_->ReplicaOf(master);
  ASSERT_THAT(replica, IsOk());
  ASSERT_GE(*replica, 0);
  std::vector<std::string> ids;
  for (int m = 0; m < 5; ++m) {
    if (m == 3) {
      // 0-2 are on the replica; it is stopped and its link cut, so 3 and 4
      // reach the master alone.
      ASSERT_THAT(cluster_->Call(master, {"WAIT", "1", "2000"}), IsOk());
      cluster_->node(*replica).Pause();
      ASSERT_THAT(cluster_->Call(master, {"CLIENT", "KILL", "TYPE", "replica"}), IsOk());
    }
    v1::PublishResponse response;
    ASSERT_TRUE(PublishVia(replicas_[0], client, std::to_string(m), &response).ok());
    ids.push_back(response.id());
  }
  cluster_->node(master).Kill();
  cluster_->node(*replica).Resume();
  ExpectLostWritesReset(replicas_[0], client, ids, absl::Seconds(30));
}

// A broker process holding 200 streams killed with SIGKILL, then the other
// brokers rolled (SIGTERM, a new process under a new id) while publishes
// go on: every browser moves on with Last-Event-ID and misses nothing.
TEST_F(ClusterTest, ABrokerKilledWith200StreamsAndARollOfTheRestLoseNothing) {
  replicas_.push_back(StartReplica(cluster_->seeds(), "a"));
  replicas_.push_back(StartReplica(cluster_->seeds(), "b"));
  ChildProcess doomed =
      ChildProcess::Spawn({PUSH_BROKER_PATH, "--bind_address=127.0.0.1", "--grpc_port=0",
                           "--http_port=0", "--admin_port=0", "--store=redis",
                           "--redis_addrs=" + cluster_->seeds(), "--replica_id=doomed"});
  BrokerPorts ports;
  ASSERT_TRUE(WaitForBrokerPorts(doomed, &ports)) << doomed.stderr_text;
  constexpr int kClients = 200;
  std::vector<Browser> browsers(kClients);
  std::vector<std::unique_ptr<SseClient>> streams(kClients);
  for (int c = 0; c < kClients; ++c) {
    streams[c] = SseClient::Open(ports.http, absl::StrCat("/v1/events?client_id=k", c), {});
    ASSERT_NE(streams[c], nullptr);
    ASSERT_EQ(streams[c]->status(), 200);
  }
  int published = 0;
  auto publish_round = [&](Replica& via) {
    for (int c = 0; c < kClients; ++c) {
      v1::PublishResponse response;
      const grpc::Status sent =
          PublishKeyed(via, absl::StrCat("k", c), std::to_string(published), &response);
      ASSERT_TRUE(sent.ok()) << sent.error_message();
    }
    ++published;
  };
  publish_round(replicas_[0]);
  publish_round(replicas_[1]);
  for (int c = 0; c < kClients; ++c) {
    for (const SseEvent& event : streams[c]->Take(1)) browsers[c].Take(event);
  }
  ::kill(doomed.pid, SIGKILL);
  doomed.Wait(absl::Seconds(5));
  publish_round(replicas_[0]);
  // The browsers reconnect (ReadUntil spreads them over a and b); then each
  // of a and b is rolled in turn with a round published through the other.
  for (int c = 0; c < kClients; ++c) {
    streams[c].reset();
    ReadUntil(browsers[c], streams[c], absl::StrCat("k", c), std::to_string(published - 1));
  }
  for (int roll = 0; roll < 2; ++roll) {
    publish_round(replicas_[1 - roll]);
    replicas_[roll].app->Shutdown();
    replicas_[roll] = StartReplica(cluster_->seeds(), absl::StrCat("rolled-", roll));
    publish_round(replicas_[roll]);
  }
  std::vector<std::string> clients;
  for (int c = 0; c < kClients; ++c) clients.push_back(absl::StrCat("k", c));
  ExpectWholeSequences(browsers, streams, clients, published);
}

// A broker process killed (SIGKILL) while it broadcasts to 10,000
// mailboxes with an idempotency key: a retry through another broker with
// the same key appends to the rest, so every mailbox holds the message
// exactly once.
TEST_F(ClusterTest, ABroadcastInterruptedByABrokerKillIsCompletedExactlyOnceByARetry) {
  replicas_.push_back(StartReplica(cluster_->seeds(), "survivor"));
  constexpr int kMailboxes = 10000;
  v1::PublishRequest seed;
  for (int i = 0; i < kMailboxes; ++i) seed.mutable_clients()->add_ids(absl::StrCat("bc", i));
  seed.set_data("seed");
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::PublishResponse response;
    const grpc::Status created = replicas_[0].stub->Publish(&context, seed, &response);
    ASSERT_TRUE(created.ok()) << created.error_message();
    ASSERT_EQ(response.mailboxes(), static_cast<uint32_t>(kMailboxes));
  }
  ChildProcess doomed =
      ChildProcess::Spawn({PUSH_BROKER_PATH, "--bind_address=127.0.0.1", "--grpc_port=0",
                           "--http_port=0", "--admin_port=0", "--store=redis",
                           "--redis_addrs=" + cluster_->seeds(), "--replica_id=doomed"});
  BrokerPorts ports;
  ASSERT_TRUE(WaitForBrokerPorts(doomed, &ports)) << doomed.stderr_text;
  v1::PublishRequest broadcast;
  broadcast.set_broadcast(true);
  broadcast.set_data("everyone");
  broadcast.set_idempotency_key("broadcast-1");
  // Killed as soon as the broadcast shows in a mailbox: its calls to the
  // three masters are under way.
  std::atomic<bool> answered{false};
  std::thread killer([&] {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    for (int i = 0; !answered.load() && absl::Now() < deadline; i = (i + 1) % 50) {
      absl::StatusOr<HistoryPage> seen =
          replicas_[0].app->broker().History(absl::StrCat("bc", i * 199), "", 0);
      if (seen.ok() && seen->messages.size() > 1) break;
    }
    ::kill(doomed.pid, SIGKILL);
  });
  {
    auto stub = v1::Broker::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", ports.grpc),
                                                        grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::PublishResponse response;
    const grpc::Status interrupted = stub->Publish(&context, broadcast, &response);
    answered.store(true);
    // On a loaded machine the broadcast may finish first; the retry must
    // then find it whole.
    if (interrupted.ok()) std::cerr << "note: the broadcast finished before the kill\n";
  }
  killer.join();
  doomed.Wait(absl::Seconds(5));
  size_t before_retry = 0;
  for (int i = 0; i < kMailboxes; i += 97) {
    absl::StatusOr<HistoryPage> seen =
        replicas_[0].app->broker().History(absl::StrCat("bc", i), "", 0);
    if (seen.ok() && seen->messages.size() > 1) ++before_retry;
  }
  std::cerr << "mailboxes sampled holding the broadcast before the retry: " << before_retry
            << " of " << (kMailboxes + 96) / 97 << "\n";
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::PublishResponse response;
  const grpc::Status retried = replicas_[0].stub->Publish(&context, broadcast, &response);
  ASSERT_TRUE(retried.ok()) << retried.error_message();
  EXPECT_EQ(response.mailboxes(), static_cast<uint32_t>(kMailboxes));
  // Every mailbox: the seed, then the broadcast once, at offset 2.
  size_t checked = 0;
  for (int i = 0; i < kMailboxes; i += 7, ++checked) {
    absl::StatusOr<HistoryPage> history =
        replicas_[0].app->broker().History(absl::StrCat("bc", i), "", 0);
    ASSERT_THAT(history, IsOk());
    ASSERT_EQ(history->messages.size(), 2u) << "bc" << i;
    EXPECT_EQ(history->messages[1].payload->data, "everyone");
    ASSERT_EQ(history->messages[1].id.offset, 2u) << "bc" << i;
  }
  EXPECT_GT(checked, 1000u);
}

}  // namespace
}  // namespace pushbroker::testing
