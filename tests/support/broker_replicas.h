// Helpers for tests that run several brokers on one Redis deployment: a
// replica (an in-process BrokerApp and a gRPC stub on a real channel), a
// publish and a stream through it, and Browser, which holds what a browser
// keeps across reconnects and checks each stream's invariant as events
// arrive. Not thread-safe.
#ifndef PUSH_BROKER_TESTS_SUPPORT_BROKER_REPLICAS_H_
#define PUSH_BROKER_TESTS_SUPPORT_BROKER_REPLICAS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "app/broker_app.h"
#include "grpcpp/grpcpp.h"
#include "pushbroker/v1/broker.grpc.pb.h"
#include "tests/support/sse_client.h"

namespace pushbroker::testing {

struct Replica {
  std::unique_ptr<BrokerApp> app;
  std::unique_ptr<v1::Broker::Stub> stub;
};

// A broker on --store=redis with `redis_addrs`, named `name`; empty (no
// app) when it did not start, with a test failure recorded.
// `tweak` may change the options first.
Replica StartReplica(const std::string& redis_addrs, const std::string& name,
                     absl::Duration io_timeout = absl::Seconds(3),
                     const std::function<void(AppOptions&)>& tweak = {});

// Publish through `via`, within 10 s.
grpc::Status PublishVia(Replica& via, const std::string& client, const std::string& data,
                        v1::PublishResponse* response, const std::string& key = "");

// An SSE stream of `client` on `at`, resuming after `last_event_id` when
// not empty.
std::unique_ptr<SseClient> StreamAt(Replica& at, const std::string& client,
                                    const std::string& last_event_id);

// The lost-write check: `ids` are five messages "0".."4" published to
// `client`, of which Redis lost "3" and "4" (a restart from an older
// snapshot, a failover). Publishes "after" until Redis answers (within
// `timeout`): it must take a new epoch at offset 4, and a browser holding
// the last lost id must get a reset (foreign_epoch), then "0".."2" and
// "after": never a silent gap or a reused id.
void ExpectLostWritesReset(Replica& via, const std::string& client,
                           const std::vector<std::string>& ids, absl::Duration timeout);

// What a browser holds across reconnects: the last id, and every event's
// data in arrival order; checks that offsets are contiguous within an
// epoch and that every change of epoch comes after a reset.
struct Browser {
  std::string last_event_id;
  std::vector<std::string> data;
  int resets = 0;
  bool reset_pending = false;  // a reset came; the next id may start a new epoch
  std::string failure;         // the first broken invariant

  void Take(const SseEvent& event);
};

}  // namespace pushbroker::testing

#endif  // PUSH_BROKER_TESTS_SUPPORT_BROKER_REPLICAS_H_
