// pb-bench: the load tool of bench/run.sh. Each --scenario drives a running
// broker (--http_port, --grpc_target, --broker_pid) and prints one line
// "RESULT scenario=... key=value ..." with what it measured. Every loop is
// bounded in count and time; all traffic stays on 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bench/load/event_watcher.h"
#include "bench/load/latency.h"
#include "bench/load/probe.h"
#include "bench/load/process_probe.h"
#include "bench/load/publisher.h"
#include "bench/load/sse_fleet.h"
#include "grpcpp/generic/generic_stub.h"
#include "httplib.h"

ABSL_FLAG(std::string, scenario, "hold",
          "hold, fanout, unicast, publish, replay, storm, soak, evict, history or memory");
ABSL_FLAG(int, http_port, 8080, "the broker's HTTP edge port on 127.0.0.1");
ABSL_FLAG(std::string, grpc_target, "127.0.0.1:50051", "the broker's gRPC address");
ABSL_FLAG(int, broker_pid, 0, "the broker's pid, to read its memory, threads and fds");
ABSL_FLAG(int, streams, 1000, "SSE streams to open");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "how long the load runs");
ABSL_FLAG(absl::Duration, interval, absl::Milliseconds(200),
          "fanout/soak: time between broadcasts");
ABSL_FLAG(absl::Duration, settle, absl::Seconds(12),
          "hold: wait before sampling the broker (request threads linger 10 s)");
ABSL_FLAG(std::string, mode, "unary",
          "publish: unary, stream or batch; unicast: stream or batch (how the load publishes)");
ABSL_FLAG(int, batch_size, 100, "batch mode: requests in one PublishBatch");
ABSL_FLAG(int, in_flight, 256, "unary publishes outstanding at once");
ABSL_FLAG(int, publish_streams, 4, "PublishStream streams at once");
ABSL_FLAG(int, clients, 1000, "publish: distinct target clients");
ABSL_FLAG(int, missed, 1000, "replay/storm: messages missed while away");
ABSL_FLAG(uint32_t, retry_ms, 2000, "storm: reconnect delay the Disconnect advises");
ABSL_FLAG(int, churn_per_s, 50, "soak: streams reloaded per second");
ABSL_FLAG(int, admin_port, 0, "the broker's admin port, to read its metrics (0: not read)");
ABSL_FLAG(absl::Duration, sample_every, absl::Minutes(1), "soak: time between samples");
ABSL_FLAG(int, mailboxes, 1000000, "evict: mailboxes to create before the broadcasts");
ABSL_FLAG(int, broadcasts, 5, "evict: broadcasts to every mailbox");
ABSL_FLAG(int, message_bytes, 1000, "memory: data bytes of each message");
ABSL_FLAG(int, messages, 0, "memory: unicast messages to publish (each with its own payload)");
ABSL_FLAG(int, stuck_streams, 0, "memory: streams that stop reading, each sent messages until cut");
ABSL_FLAG(uint64_t, budget_bytes, 1073741824, "memory: the broker's --mailbox_memory_budget_bytes");
ABSL_FLAG(uint64_t, stream_budget_bytes, 268435456,
          "memory: the broker's --stream_queue_budget_bytes (counted when streams stall)");
ABSL_FLAG(int, history_rate, 90, "history: History(limit=10000) calls per second in the storm");
ABSL_FLAG(std::string, http_ports, "",
          "roll/reach: HTTP ports of several replicas, comma-separated; each connect of a stream "
          "goes to the next (empty: --http_port)");
ABSL_FLAG(std::string, grpc_targets, "",
          "roll: gRPC addresses of several replicas; a failed publish is retried on the next "
          "with its idempotency key (empty: --grpc_target)");
ABSL_FLAG(std::string, watch_kinds, "",
          "fanout: also hold a Watch on these kinds (comma-separated) during the run; "
          "watch_group: the kinds the group watches");
ABSL_FLAG(int, watchers, 3, "watch_group: members of the group");
ABSL_FLAG(int, samples, 2000, "wait_latency: publishes of each kind");
ABSL_FLAG(int, rate, 500, "roll: unicast publishes per second, spread over the streams' clients");
ABSL_FLAG(int, client_offset, 0, "reach: the number of the first client (c<offset>...)");
ABSL_FLAG(std::string, ready_file, "",
          "reach: written once every stream is open, so a script can broadcast then");

namespace pushbroker::bench {
namespace {

std::string ClientId(size_t i) { return absl::StrCat("c", i); }

FleetOptions Fleet() {
  FleetOptions options;
  options.port = absl::GetFlag(FLAGS_http_port);
  for (absl::string_view port :
       absl::StrSplit(absl::GetFlag(FLAGS_http_ports), ',', absl::SkipEmpty())) {
    int number = 0;
    if (absl::SimpleAtoi(port, &number)) options.ports.push_back(number);
  }
  return options;
}

ProcessSample Broker() {
  const int pid = absl::GetFlag(FLAGS_broker_pid);
  return pid > 0 ? SampleProcess(pid) : ProcessSample{};
}

// The most threads the broker ran while `work` ran, sampled every 10 ms.
template <typename Work>
int PeakThreadsDuring(Work work) {
  std::atomic<bool> done{false};
  std::atomic<int> peak{0};
  std::thread sampler([&] {
    while (!done.load()) {
      peak = std::max(peak.load(), Broker().threads);
      absl::SleepFor(absl::Milliseconds(10));
    }
  });
  work();
  // The pool's threads linger after a burst: keep sampling a little longer.
  absl::SleepFor(absl::Milliseconds(200));
  done = true;
  sampler.join();
  return peak.load();
}

void Result(const std::string& scenario,
            const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string line = absl::StrCat("RESULT scenario=", scenario);
  for (const auto& [key, value] : kv) absl::StrAppend(&line, " ", key, "=", value);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::string F(double value, int digits = 1) { return absl::StrFormat("%.*f", digits, value); }

// Opens `fleet`'s streams; returns the seconds it took, or -1 on timeout.
double ConnectAll(SseFleet& fleet, absl::Duration timeout) {
  const absl::Time start = absl::Now();
  const size_t want = fleet.size();
  if (!fleet.RunUntil([&] { return fleet.open_streams() >= want; }, start + timeout)) return -1;
  return absl::ToDoubleSeconds(absl::Now() - start);
}

// Per stream: broadcast sequences seen, for loss and duplicates.
struct Tally {
  std::vector<uint64_t> last_sequence;
  uint64_t received = 0;
  uint64_t duplicates = 0;
  uint64_t out_of_order = 0;
  explicit Tally(size_t streams) : last_sequence(streams, 0) {}
  void See(size_t stream, uint64_t sequence) {
    ++received;
    uint64_t& last = last_sequence[stream];
    if (sequence == last) {
      ++duplicates;
    } else if (sequence < last) {
      ++out_of_order;
    } else {
      last = sequence;
    }
  }
};

int Hold() {
  const size_t n = absl::GetFlag(FLAGS_streams);
  Publisher publisher(absl::GetFlag(FLAGS_grpc_target));
  const ProcessSample before = Broker();
  LatencyLog latency;
  size_t got_broadcast = 0;
  absl::Time last_receive;
  SseFleet fleet(Fleet(), [&](size_t, const SseEvent& event, absl::Time at) {
    Stamp stamp;
    if (event.type == "message" && ParseStamp(event.data, &stamp)) {
      latency.Add(stamp.sent_nanos, at);
      ++got_broadcast;
      last_receive = at;
    }
  });
  for (size_t i = 0; i < n; ++i) fleet.Add(ClientId(i));
  double connect_s = 0;
  const int threads_peak =
      PeakThreadsDuring([&] { connect_s = ConnectAll(fleet, absl::Seconds(60)); });
  const ProcessSample connected = Broker();
  // Idle: let the connect burst's request threads leave, keep reading heartbeats.
  fleet.RunUntil([] { return false; }, absl::Now() + absl::GetFlag(FLAGS_settle));
  const ProcessSample idle = Broker();
  // One broadcast, timed until the last stream has it.
  const int64_t sent = absl::GetCurrentTimeNanos();
  std::thread broadcast([&] { (void)publisher.Broadcast(StampedData(1)); });
  fleet.RunUntil([&] { return got_broadcast >= n; }, absl::Now() + absl::Seconds(30));
  broadcast.join();
  Result("hold", {{"streams", absl::StrCat(n)},
                  {"open", absl::StrCat(fleet.open_streams())},
                  {"connect_s", F(connect_s, 2)},
                  {"rss_before_mib", F(before.rss_kib / 1024)},
                  {"rss_idle_mib", F(idle.rss_kib / 1024)},
                  {"kib_per_stream", F((idle.rss_kib - before.rss_kib) / n, 2)},
                  {"threads_before", absl::StrCat(before.threads)},
                  {"threads_peak", absl::StrCat(threads_peak)},
                  {"threads_connected", absl::StrCat(connected.threads)},
                  {"threads_idle", absl::StrCat(idle.threads)},
                  {"fds_idle", absl::StrCat(idle.fds)},
                  {"broadcast_received", absl::StrCat(got_broadcast)},
                  {"broadcast_p50_ms", F(latency.QuantileMs(0.5))},
                  {"broadcast_p99_ms", F(latency.QuantileMs(0.99))},
                  {"broadcast_all_ms",
                   F(static_cast<double>(absl::ToUnixNanos(last_receive) - sent) / 1e6)}});
  return fleet.open_streams() == n ? 0 : 1;
}

int Fanout() {
  const size_t n = absl::GetFlag(FLAGS_streams);
  const absl::Duration interval = absl::GetFlag(FLAGS_interval);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  Publisher publisher(absl::GetFlag(FLAGS_grpc_target));
  LatencyLog latency;
  Tally tally(n);
  SseFleet fleet(Fleet(), [&](size_t stream, const SseEvent& event, absl::Time at) {
    Stamp stamp;
    if (event.type == "message" && ParseStamp(event.data, &stamp)) {
      latency.Add(stamp.sent_nanos, at);
      tally.See(stream, stamp.sequence);
    }
  });
  for (size_t i = 0; i < n; ++i) fleet.Add(ClientId(i));
  const double connect_s = ConnectAll(fleet, absl::Seconds(60));
  const uint64_t broadcasts = static_cast<uint64_t>(duration / interval);
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> publish_errors{0};
  // With --watch_kinds: a backend watching the run (delivery events must not
  // slow the fan-out).
  std::unique_ptr<EventWatcher> watcher;
  if (const std::string kinds = absl::GetFlag(FLAGS_watch_kinds); !kinds.empty()) {
    watcher = std::make_unique<EventWatcher>(
        grpc::CreateChannel(absl::GetFlag(FLAGS_grpc_target), grpc::InsecureChannelCredentials()),
        absl::StrSplit(kinds, ',', absl::SkipEmpty()), "", nullptr);
    watcher->Start();
    absl::SleepFor(absl::Milliseconds(200));
  }
  const ProcessSample before = Broker();
  std::thread sender([&] {
    absl::Time next = absl::Now();
    for (uint64_t seq = 1; seq <= broadcasts; ++seq) {
      absl::SleepFor(next - absl::Now());
      (publisher.Broadcast(StampedData(seq)).ok() ? published : publish_errors).fetch_add(1);
      next += interval;
    }
  });
  const absl::Time start = absl::Now();
  fleet.RunUntil([&] { return tally.received >= broadcasts * n; },
                 start + duration + absl::Seconds(10));
  sender.join();
  const ProcessSample after = Broker();
  const uint64_t expected = published.load() * n;
  Result("fanout",
         {{"streams", absl::StrCat(n)},
          {"connect_s", F(connect_s, 2)},
          {"broadcasts", absl::StrCat(published.load())},
          {"deliveries", absl::StrCat(tally.received)},
          {"lost", absl::StrCat(expected > tally.received ? expected - tally.received : 0)},
          {"duplicates", absl::StrCat(tally.duplicates + tally.out_of_order)},
          {"p50_ms", F(latency.QuantileMs(0.5))},
          {"p99_ms", F(latency.QuantileMs(0.99))},
          {"max_ms", F(latency.QuantileMs(1.0))},
          {"reconnects", absl::StrCat(fleet.counters().connects - n)},
          {"rss_mib", F(after.rss_kib / 1024)},
          {"broker_cpu_s", F(after.cpu_s - before.cpu_s, 2)},
          {"threads", absl::StrCat(before.threads)},
          {"watch_events", absl::StrCat(watcher ? watcher->received() : 0)}});
  return publish_errors.load() == 0 && tally.received == expected ? 0 : 1;
}

// A group of watchers sharing delivery events: `clients` mailboxes of
// `missed` messages each are filled first, then each is read by one long
// poll (a poll's answer is delivered: one event per message), so the events
// cost the broker little besides Watch itself. Events per second through
// the group, and whether each reached exactly one member.
int WatchGroup() {
  const size_t clients = absl::GetFlag(FLAGS_clients);
  const size_t per_client = absl::GetFlag(FLAGS_missed);
  Publisher publisher(absl::GetFlag(FLAGS_grpc_target));
  const LoadResult filled = publisher.RunStreams(
      [&](uint64_t i, v1::PublishRequest* request) {
        request->set_client_id(ClientId(i % clients));
        request->set_data(StampedData(i + 1));
      },
      absl::GetFlag(FLAGS_publish_streams), clients * per_client, absl::Minutes(2));
  SeenEvents seen;
  std::vector<std::unique_ptr<EventWatcher>> members;
  const std::string kinds = absl::GetFlag(FLAGS_watch_kinds).empty()
                                ? std::string("delivered")
                                : absl::GetFlag(FLAGS_watch_kinds);
  for (int i = 0; i < absl::GetFlag(FLAGS_watchers); ++i) {
    members.push_back(std::make_unique<EventWatcher>(
        grpc::CreateChannel(absl::GetFlag(FLAGS_grpc_target), grpc::InsecureChannelCredentials()),
        absl::StrSplit(kinds, ',', absl::SkipEmpty()), "bench", &seen));
    members.back()->Start();
  }
  absl::SleepFor(absl::Milliseconds(500));
  auto total = [&] {
    uint64_t sum = 0;
    for (const auto& member : members) sum += member->received() - member->duplicates();
    return sum;
  };
  const absl::Time start = absl::Now();
  std::atomic<uint64_t> polled{0};
  std::vector<std::thread> pollers;
  for (int t = 0; t < 4; ++t) {
    pollers.emplace_back([&, t] {
      httplib::Client http("127.0.0.1", absl::GetFlag(FLAGS_http_port));
      for (size_t c = t; c < clients; c += 4) {
        auto res = http.Get(absl::StrCat("/v1/poll?client_id=", ClientId(c), "&timeout_ms=0"));
        if (res && res->status == 200) polled.fetch_add(1);
      }
    });
  }
  for (auto& poller : pollers) poller.join();
  const uint64_t expected = filled.acknowledged;
  absl::Time last_growth = absl::Now();
  uint64_t last_total = 0;
  while (absl::Now() - last_growth < absl::Seconds(3) && last_total < expected) {
    absl::SleepFor(absl::Milliseconds(5));
    if (const uint64_t now_total = total(); now_total != last_total) {
      last_total = now_total;
      last_growth = absl::Now();
    }
  }
  const uint64_t unique = total();
  const double seconds = absl::ToDoubleSeconds(last_growth - start);
  std::vector<std::string> shares;
  uint64_t duplicates = 0;
  for (const auto& member : members) {
    shares.push_back(absl::StrCat(member->received()));
    duplicates += member->duplicates();
  }
  for (auto& member : members) member->Stop();
  Result("watch_group", {{"clients", absl::StrCat(clients)},
                         {"polled", absl::StrCat(polled.load())},
                         {"watchers", absl::StrCat(members.size())},
                         {"events", absl::StrCat(unique)},
                         {"seconds", F(seconds, 2)},
                         {"events_per_s", F(unique / seconds, 0)},
                         {"lost", absl::StrCat(expected > unique ? expected - unique : 0)},
                         {"duplicates", absl::StrCat(duplicates)},
                         {"shares", absl::StrJoin(shares, "/")}});
  return unique == expected && duplicates == 0 ? 0 : 1;
}

// The round trip of a plain unary Publish to an online client against one
// that waits for RECEIPT_DELIVERED, alternating, one at a time.
int WaitLatency() {
  Publisher publisher(absl::GetFlag(FLAGS_grpc_target));
  uint64_t received = 0;
  SseFleet fleet(Fleet(), [&](size_t, const SseEvent& event, absl::Time) {
    if (event.type == "message") ++received;
  });
  fleet.Add("waiting-client");
  ConnectAll(fleet, absl::Seconds(10));
  LatencyLog plain;
  LatencyLog waiting;
  uint64_t not_delivered = 0;
  std::atomic<bool> done{false};
  std::thread sender([&] {
    const int samples = absl::GetFlag(FLAGS_samples);
    for (int i = 0; i < 2 * samples; ++i) {
      v1::PublishRequest request;
      request.set_client_id("waiting-client");
      request.set_data(StampedData(i + 1));
      const bool wait = i % 2 == 1;
      if (wait) {
        request.set_wait_for(v1::RECEIPT_DELIVERED);
        request.mutable_wait_timeout()->set_seconds(5);
      }
      v1::PublishResponse response;
      const absl::Time sent = absl::Now();
      if (!publisher.Publish(request, &response).ok()) continue;
      (wait ? waiting : plain).Add(absl::ToUnixNanos(sent), absl::Now());
      if (wait && response.delivered() != 1) ++not_delivered;
    }
    done = true;
  });
  fleet.RunUntil([&] { return done.load(); }, absl::Now() + absl::Seconds(120));
  sender.join();
  Result("wait_latency", {{"samples", absl::StrCat(plain.count())},
                          {"plain_p50_ms", F(plain.QuantileMs(0.5), 3)},
                          {"plain_p99_ms", F(plain.QuantileMs(0.99), 3)},
                          {"delivered_p50_ms", F(waiting.QuantileMs(0.5), 3)},
                          {"delivered_p99_ms", F(waiting.QuantileMs(0.99), 3)},
                          {"added_p99_ms", F(waiting.QuantileMs(0.99) - plain.QuantileMs(0.99), 3)},
                          {"not_delivered", absl::StrCat(not_delivered)}});
  return not_delivered == 0 ? 0 : 1;
}

int Unicast() {
  const size_t n = absl::GetFlag(FLAGS_streams);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  Publisher publisher(absl::GetFlag(FLAGS_grpc_target));
  LatencyLog latency;
  uint64_t received = 0;
  SseFleet fleet(Fleet(), [&](size_t, const SseEvent& event, absl::Time at) {
    Stamp stamp;
    if (event.type == "message" && ParseStamp(event.data, &stamp)) {
      latency.Add(stamp.sent_nanos, at);
      ++received;
    }
  });
  for (size_t i = 0; i < n; ++i) fleet.Add(ClientId(i));
  const double connect_s = ConnectAll(fleet, absl::Seconds(60));
  absl::Notification done;
  LoadResult load;
  std::thread sender([&] {
    // A fixed pseudo-random spread over the clients.
    RequestMaker make = [n](uint64_t i, v1::PublishRequest* request) {
      request->set_client_id(ClientId((i * 2654435761u) % n));
      request->set_data(StampedData(i + 1));
    };
    load = absl::GetFlag(FLAGS_mode) == "batch"
               ? publisher.RunBatches(make, absl::GetFlag(FLAGS_batch_size),
                                      absl::GetFlag(FLAGS_publish_streams), UINT64_MAX, duration)
               : publisher.RunStreams(make, absl::GetFlag(FLAGS_publish_streams), UINT64_MAX,
                                      duration);
    done.Notify();
  });
  fleet.RunUntil([&] { return done.HasBeenNotified() && received >= load.acknowledged; },
                 absl::Now() + duration + absl::Seconds(15));
  sender.join();
  Result("unicast",
         {{"streams", absl::StrCat(n)},
          {"connect_s", F(connect_s, 2)},
          {"published", absl::StrCat(load.acknowledged)},
          {"publish_per_s", F(load.per_second(), 0)},
          {"deliveries", absl::StrCat(received)},
          {"deliveries_per_s", F(received / absl::ToDoubleSeconds(load.elapsed), 0)},
          {"lost", absl::StrCat(load.acknowledged > received ? load.acknowledged - received : 0)},
          {"p50_ms", F(latency.QuantileMs(0.5))},
          {"p99_ms", F(latency.QuantileMs(0.99))}});
  return received == load.acknowledged ? 0 : 1;
}

// The publishing load --mode names: unary calls, PublishStream, or
// PublishBatch (--batch_size requests a call, --publish_streams calls
// outstanding).
LoadResult RunLoad(Publisher& publisher, const RequestMaker& make, uint64_t count) {
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  if (mode == "unary") {
    return publisher.RunUnary(make, absl::GetFlag(FLAGS_in_flight), count, duration);
  }
  if (mode == "batch") {
    return publisher.RunBatches(make, absl::GetFlag(FLAGS_batch_size),
                                absl::GetFlag(FLAGS_publish_streams), count, duration);
  }
  return publisher.RunStreams(make, absl::GetFlag(FLAGS_publish_streams), count, duration);
}

int PublishOnly() {
  Publisher publisher(absl::GetFlag(FLAGS_grpc_target));
  const size_t clients = absl::GetFlag(FLAGS_clients);
  const std::string data(64, 'p');
  RequestMaker make = [&](uint64_t i, v1::PublishRequest* request) {
    request->set_client_id(ClientId(i % clients));
    request->set_data(data);
  };
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const ProcessSample before = Broker();
  const LoadResult load = RunLoad(publisher, make, UINT64_MAX);
  const ProcessSample after = Broker();
  Result(absl::StrCat("publish_", mode,
                      mode == "batch" ? absl::StrCat(absl::GetFlag(FLAGS_batch_size)) : ""),
         {{"published", absl::StrCat(load.acknowledged)},
          {"failed", absl::StrCat(load.failed)},
          {"seconds", F(absl::ToDoubleSeconds(load.elapsed), 2)},
          {"per_s", F(load.per_second(), 0)},
          {"broker_cpu_s", F(after.cpu_s - before.cpu_s, 2)}});
  return load.failed == 0 ? 0 : 1;
}

int Replay() {
  const int missed = absl::GetFlag(FLAGS_missed);
  Publisher publisher(absl::GetFlag(FLAGS_grpc_target));
  const std::string client = "replay-client";
  std::vector<uint64_t> sequences;
  absl::Time last_at;
  SseFleet fleet(Fleet(), [&](size_t, const SseEvent& event, absl::Time at) {
    Stamp stamp;
    if (event.type == "message" && ParseStamp(event.data, &stamp)) {
      sequences.push_back(stamp.sequence);
      last_at = at;
    }
  });
  fleet.Add(client);
  ConnectAll(fleet, absl::Seconds(10));
  v1::PublishRequest request;
  request.set_client_id(client);
  request.set_data(StampedData(0));
  std::thread([&] { (void)publisher.Publish(request); }).join();
  fleet.RunUntil([&] { return sequences.size() == 1; }, absl::Now() + absl::Seconds(10));
  fleet.CloseAll();  // away
  sequences.clear();
  LoadResult load = publisher.RunStreams(
      [&](uint64_t i, v1::PublishRequest* r) {
        r->set_client_id(client);
        r->set_data(StampedData(i + 1));
      },
      1, missed, absl::Seconds(30));
  const absl::Time reconnect = absl::Now();
  fleet.Reopen(0);  // back, with Last-Event-ID
  fleet.RunUntil([&] { return sequences.size() >= static_cast<size_t>(missed); },
                 reconnect + absl::Seconds(10));
  bool in_order = true;
  for (size_t i = 0; i < sequences.size(); ++i) in_order &= sequences[i] == i + 1;
  Result("replay", {{"missed", absl::StrCat(load.acknowledged)},
                    {"received", absl::StrCat(sequences.size())},
                    {"in_order_no_duplicate", in_order ? "yes" : "no"},
                    {"all_received_ms", F(absl::ToDoubleMilliseconds(last_at - reconnect))}});
  return in_order && sequences.size() == static_cast<size_t>(missed) ? 0 : 1;
}

int Storm() {
  const size_t n = absl::GetFlag(FLAGS_streams);
  const int missed = absl::GetFlag(FLAGS_missed);
  const uint32_t retry_ms = absl::GetFlag(FLAGS_retry_ms);
  Publisher publisher(absl::GetFlag(FLAGS_grpc_target));
  Tally tally(n);
  std::vector<absl::Time> reopened(n, absl::InfinitePast());
  std::vector<absl::Time> caught_up(n, absl::InfinitePast());
  size_t caught_up_count = 0;
  bool dropped_phase = false;
  SseFleet fleet(
      Fleet(),
      [&](size_t stream, const SseEvent& event, absl::Time at) {
        Stamp stamp;
        if (event.type != "message" || !ParseStamp(event.data, &stamp)) return;
        tally.See(stream, stamp.sequence);
        if (stamp.sequence == static_cast<uint64_t>(missed) &&
            caught_up[stream] == absl::InfinitePast()) {
          caught_up[stream] = at;
          ++caught_up_count;
        }
      },
      [&](size_t stream, bool open, absl::Time at) {
        if (open && dropped_phase) reopened[stream] = at;
      });
  for (size_t i = 0; i < n; ++i) fleet.Add(ClientId(i));
  const double connect_s = ConnectAll(fleet, absl::Seconds(60));
  dropped_phase = true;
  // Drop every stream with a Disconnect (each advised to return after
  // retry_ms), then publish what they miss: `missed` list publishes to all.
  std::atomic<uint64_t> disconnect_errors{0};
  absl::Notification published;
  absl::Time published_at;
  std::atomic<uint64_t> publish_errors{0};
  const absl::Time storm_start = absl::Now();
  std::thread driver([&] {
    std::vector<std::thread> droppers;
    for (size_t t = 0; t < 8; ++t) {
      droppers.emplace_back([&, t] {
        for (size_t i = t; i < n; i += 8) {
          if (!publisher.Disconnect(ClientId(i), retry_ms).ok()) disconnect_errors.fetch_add(1);
        }
      });
    }
    for (std::thread& d : droppers) d.join();
    for (int seq = 1; seq <= missed; ++seq) {
      v1::PublishRequest request;
      for (size_t i = 0; i < n; ++i) request.mutable_clients()->add_ids(ClientId(i));
      request.set_data(StampedData(seq));
      if (!publisher.Publish(request).ok()) publish_errors.fetch_add(1);
    }
    published_at = absl::Now();
    published.Notify();
  });
  // The broker's gRPC stays responsive: probe it all through the storm.
  std::atomic<bool> probing{true};
  std::atomic<int64_t> worst_probe_us{0};
  std::thread prober([&] {
    while (probing.load()) {
      absl::StatusOr<absl::Duration> took = publisher.TimeGetClient("c0");
      if (took.ok()) {
        const int64_t us = absl::ToInt64Microseconds(*took);
        int64_t worst = worst_probe_us.load();
        while (us > worst && !worst_probe_us.compare_exchange_weak(worst, us)) {
        }
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  });
  fleet.RunUntil([&] { return published.HasBeenNotified() && caught_up_count >= n; },
                 storm_start + absl::Seconds(60));
  const absl::Duration storm = absl::Now() - storm_start;
  probing = false;
  prober.join();
  driver.join();
  // A client's catch-up runs from when it was back and everything it
  // missed was published, to its last missed message.
  std::vector<double> catch_up_ms;
  for (size_t i = 0; i < n; ++i) {
    if (caught_up[i] == absl::InfinitePast() || reopened[i] == absl::InfinitePast()) continue;
    catch_up_ms.push_back(
        absl::ToDoubleMilliseconds(caught_up[i] - std::max(reopened[i], published_at)));
  }
  std::sort(catch_up_ms.begin(), catch_up_ms.end());
  auto q = [&](double p) {
    return catch_up_ms.empty() ? 0.0
                               : catch_up_ms[std::min(catch_up_ms.size() - 1,
                                                      static_cast<size_t>(p * catch_up_ms.size()))];
  };
  const uint64_t expected = static_cast<uint64_t>(missed) * n;
  Result("storm",
         {{"streams", absl::StrCat(n)},
          {"connect_s", F(connect_s, 2)},
          {"reconnected_and_caught_up", absl::StrCat(catch_up_ms.size())},
          {"catch_up_p50_ms", F(q(0.5))},
          {"catch_up_p99_ms", F(q(0.99))},
          {"catch_up_max_ms", F(q(1.0))},
          {"lost", absl::StrCat(expected > tally.received ? expected - tally.received : 0)},
          {"duplicates", absl::StrCat(tally.duplicates + tally.out_of_order)},
          {"storm_s", F(absl::ToDoubleSeconds(storm), 2)},
          {"worst_grpc_probe_ms", F(worst_probe_us.load() / 1000.0)},
          {"errors", absl::StrCat(disconnect_errors.load() + publish_errors.load())}});
  return catch_up_ms.size() == n && tally.received == expected ? 0 : 1;
}

// One value of the broker's /metrics (the first sample of `name`), or -1.
double Metric(const std::string& name) {
  const int port = absl::GetFlag(FLAGS_admin_port);
  if (port <= 0) return -1;
  httplib::Client admin("127.0.0.1", port);
  auto res = admin.Get("/metrics");
  if (!res || res->status != 200) return -1;
  const std::string prefix = name + " ";
  const size_t at = res->body.find("\n" + prefix);
  if (at == std::string::npos) return -1;
  return std::atof(res->body.c_str() + at + 1 + prefix.size());
}

// Streams reloading and a broadcast every interval for `duration`, sampled
// every --sample_every: resident memory, retained bytes, descriptors and
// threads. Run with retention that fills in the first minutes (the broker's
// --mailbox_max_messages), the second half shows whether anything grows
// that retention does not explain.
int Soak() {
  const size_t n = absl::GetFlag(FLAGS_streams);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const int churn = absl::GetFlag(FLAGS_churn_per_s);
  Publisher publisher(absl::GetFlag(FLAGS_grpc_target));
  uint64_t received = 0;
  SseFleet fleet(Fleet(), [&](size_t, const SseEvent& event, absl::Time) {
    if (event.type == "message") ++received;
  });
  for (size_t i = 0; i < n; ++i) fleet.Add(ClientId(i));
  ConnectAll(fleet, absl::Seconds(60));
  std::atomic<bool> running{true};
  std::thread sender([&] {
    uint64_t seq = 0;
    while (running.load()) {
      (void)publisher.Broadcast(StampedData(++seq));
      absl::SleepFor(absl::GetFlag(FLAGS_interval));
    }
  });
  std::mt19937 random(42);
  const absl::Time start = absl::Now();
  struct Sample {
    double minute;
    ProcessSample process;
    double retained_mib;
  };
  std::vector<Sample> samples;
  absl::Time next_sample = start + absl::GetFlag(FLAGS_sample_every);
  while (absl::Now() < start + duration) {
    fleet.RunUntil([] { return false; }, absl::Now() + absl::Seconds(1));
    for (int i = 0; i < churn; ++i) fleet.Restart(random() % n);
    if (absl::Now() >= next_sample) {
      samples.push_back(Sample{absl::ToDoubleMinutes(absl::Now() - start), Broker(),
                               Metric("pushbroker_mailbox_bytes") / 1048576});
      const Sample& last = samples.back();
      std::printf("soak minute=%.1f rss_mib=%.1f retained_mib=%.1f fds=%d threads=%d open=%zu\n",
                  last.minute, last.process.rss_kib / 1024, last.retained_mib, last.process.fds,
                  last.process.threads, fleet.open_streams());
      std::fflush(stdout);
      next_sample += absl::GetFlag(FLAGS_sample_every);
    }
  }
  running = false;
  sender.join();
  if (samples.empty()) samples.push_back(Sample{0, Broker(), -1});
  // The second half: the lowest and highest resident memory.
  double low = 1e18, high = 0;
  for (const Sample& sample : samples) {
    if (sample.minute < absl::ToDoubleMinutes(duration) / 2) continue;
    low = std::min(low, sample.process.rss_kib / 1024);
    high = std::max(high, sample.process.rss_kib / 1024);
  }
  if (high == 0) low = high = samples.back().process.rss_kib / 1024;
  Result("soak", {{"streams", absl::StrCat(n)},
                  {"minutes", F(absl::ToDoubleMinutes(duration))},
                  {"reloads", absl::StrCat(fleet.counters().connects - n)},
                  {"messages_received", absl::StrCat(received)},
                  {"rss_first_mib", F(samples.front().process.rss_kib / 1024)},
                  {"rss_last_mib", F(samples.back().process.rss_kib / 1024)},
                  {"retained_last_mib", F(samples.back().retained_mib)},
                  {"second_half_rss_min_mib", F(low)},
                  {"second_half_rss_max_mib", F(high)},
                  {"second_half_growth_pct", F(100 * (high - low) / low)},
                  {"fds_first", absl::StrCat(samples.front().process.fds)},
                  {"fds_last", absl::StrCat(samples.back().process.fds)},
                  {"threads_last", absl::StrCat(samples.back().process.threads)}});
  return 0;
}

// Publishes to `n` mailboxes "m<i>", in lists of 10,000.
absl::Status FillMailboxes(Publisher& publisher, int n, const std::string& data) {
  constexpr int kList = 10000;
  for (int first = 0; first < n; first += kList) {
    v1::PublishRequest request;
    for (int i = first; i < std::min(n, first + kList); ++i) {
      request.mutable_clients()->add_ids(absl::StrCat("m", i));
    }
    request.set_data(data);
    if (absl::Status status = publisher.Publish(request); !status.ok()) return status;
  }
  return absl::OkStatus();
}

// Broadcasts to a million mailboxes past the memory budget, while a probe
// publishes to one other client every 10 ms: how long do the broadcasts
// take, and how long does eviction hold the probe up?
int Evict() {
  const int n = absl::GetFlag(FLAGS_mailboxes);
  Publisher publisher(absl::GetFlag(FLAGS_grpc_target));
  const std::string data(200, 'e');
  const absl::Time fill_start = absl::Now();
  if (absl::Status filled = FillMailboxes(publisher, n, data); !filled.ok()) {
    std::fprintf(stderr, "fill: %s\n", filled.ToString().c_str());
    return 1;
  }
  const double fill_s = absl::ToDoubleSeconds(absl::Now() - fill_start);
  PublishProbe probe(&publisher, "probe", absl::Milliseconds(10));
  std::vector<std::string> broadcast_ms;
  int failed = 0;
  for (int i = 0; i < absl::GetFlag(FLAGS_broadcasts); ++i) {
    const absl::Time start = absl::Now();
    if (!publisher.Broadcast(data).ok()) ++failed;
    broadcast_ms.push_back(F(absl::ToDoubleMilliseconds(absl::Now() - start), 0));
  }
  probe.Stop();
  const ProcessSample after = Broker();
  Result("evict", {{"mailboxes", absl::StrCat(n)},
                   {"fill_s", F(fill_s)},
                   {"broadcast_ms", absl::StrJoin(broadcast_ms, "/")},
                   {"broadcasts_failed", absl::StrCat(failed)},
                   {"probe_publishes", absl::StrCat(probe.samples())},
                   {"probe_p50_ms", F(probe.QuantileMs(0.5))},
                   {"probe_p99_ms", F(probe.QuantileMs(0.99))},
                   {"probe_max_ms", F(probe.QuantileMs(1.0))},
                   {"rss_mib", F(after.rss_kib / 1024)}});
  return failed == 0 && probe.failures() == 0 ? 0 : 1;
}

// A probe's publish latency alone, then beside a storm of History(limit =
// 10000) calls on a 1,000-message mailbox, read as raw bytes (the storm's
// client does not decode, so its own CPU does not weigh on the probe).
int HistoryStorm() {
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  Publisher publisher(absl::GetFlag(FLAGS_grpc_target));
  for (int i = 0; i < 1000; ++i) {
    v1::PublishRequest request;
    request.set_client_id("archive");
    request.set_data(std::string(1000, 'h'));
    if (!publisher.Publish(request).ok()) return 1;
  }
  auto measure = [&](bool storm) {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> calls{0};
    std::atomic<uint64_t> bytes{0};
    std::thread reader([&] {
      if (!storm) return;
      auto channel =
          grpc::CreateChannel(absl::GetFlag(FLAGS_grpc_target), grpc::InsecureChannelCredentials());
      grpc::GenericStub stub(channel);
      v1::HistoryRequest request;
      request.set_client_id("archive");
      request.set_limit(10000);
      const std::string serialized = request.SerializeAsString();
      const absl::Duration gap = absl::Seconds(1) / absl::GetFlag(FLAGS_history_rate);
      absl::Time next = absl::Now();
      while (!stop.load()) {
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
        grpc::Slice slice(serialized);
        grpc::ByteBuffer out(&slice, 1), in;
        absl::Notification done;
        stub.UnaryCall(&context, "/pushbroker.v1.Broker/History", grpc::StubOptions(), &out, &in,
                       [&](grpc::Status) { done.Notify(); });
        done.WaitForNotification();
        bytes += in.Length();
        ++calls;
        next += gap;
        absl::SleepFor(next - absl::Now());
      }
    });
    PublishProbe probe(&publisher, "probe", absl::Milliseconds(10));
    absl::SleepFor(duration);
    probe.Stop();
    stop = true;
    reader.join();
    return std::vector<std::pair<std::string, std::string>>{
        {storm ? "storm_p50_ms" : "alone_p50_ms", F(probe.QuantileMs(0.5))},
        {storm ? "storm_p99_ms" : "alone_p99_ms", F(probe.QuantileMs(0.99))},
        {storm ? "history_calls_per_s" : "alone_samples",
         storm ? F(static_cast<double>(calls.load()) / absl::ToDoubleSeconds(duration))
               : absl::StrCat(probe.samples())},
        {storm ? "history_mib_per_call" : "alone_failures",
         storm
             ? F(calls.load() == 0 ? 0 : static_cast<double>(bytes.load()) / calls.load() / 1048576,
                 2)
             : absl::StrCat(probe.failures())}};
  };
  auto alone = measure(false);
  auto storm = measure(true);
  alone.insert(alone.end(), storm.begin(), storm.end());
  Result("history", alone);
  return 0;
}

// Peak resident memory while `work` runs, sampled every 20 ms.
template <typename Work>
double PeakRssMibDuring(Work work) {
  std::atomic<bool> done{false};
  std::atomic<double> peak{0};
  std::thread sampler([&] {
    while (!done.load()) {
      peak = std::max(peak.load(), Broker().rss_kib / 1024);
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  work();
  done = true;
  sampler.join();
  return std::max(peak.load(), Broker().rss_kib / 1024);
}

// A connection that asks for a client's stream and then never reads.
int OpenStuckStream(const std::string& client_id) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(absl::GetFlag(FLAGS_http_port)));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  const std::string request =
      absl::StrCat("GET /v1/events?client_id=", client_id, " HTTP/1.1\r\nHost: bench\r\n\r\n");
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Fills the memory budget with messages that each have their own payload
// (the case the budget's count is closest to), and/or stalls streams that
// stop reading, and reports the broker's peak and settled RSS against the
// budget.
int Memory() {
  const int messages = absl::GetFlag(FLAGS_messages);
  const int clients = absl::GetFlag(FLAGS_clients);
  const int stuck = absl::GetFlag(FLAGS_stuck_streams);
  const size_t bytes = static_cast<size_t>(absl::GetFlag(FLAGS_message_bytes));
  // What the broker may hold by its budgets: retention, plus the streams'
  // queues when some stall.
  const double budget_mib =
      static_cast<double>(absl::GetFlag(FLAGS_budget_bytes) +
                          (stuck > 0 ? absl::GetFlag(FLAGS_stream_budget_bytes) : 0)) /
      1048576;
  Publisher publisher(absl::GetFlag(FLAGS_grpc_target));
  const ProcessSample before = Broker();
  std::vector<int> stuck_fds;
  LoadResult load;
  const double peak_mib = PeakRssMibDuring([&] {
    if (messages > 0) {
      load = publisher.RunStreams(
          [&](uint64_t i, v1::PublishRequest* request) {
            request->set_client_id(ClientId((i * 2654435761u) % clients));
            request->set_data(StampedData(i + 1, bytes > 40 ? bytes - 40 : 0));
          },
          absl::GetFlag(FLAGS_publish_streams), static_cast<uint64_t>(messages), absl::Minutes(5));
    }
    for (int i = 0; i < stuck; ++i) {
      const int fd = OpenStuckStream(absl::StrCat("stuck", i));
      if (fd >= 0) stuck_fds.push_back(fd);
    }
    absl::SleepFor(absl::Seconds(1));
    // Each stuck stream is sent 4 MiB, four times its own limit.
    const int per_stream = static_cast<int>((4u << 20) / std::max<size_t>(bytes, 1));
    if (stuck > 0) {
      publisher.RunStreams(
          [&](uint64_t i, v1::PublishRequest* request) {
            request->set_client_id(absl::StrCat("stuck", i % stuck));
            request->set_data(std::string(bytes, 's'));
          },
          absl::GetFlag(FLAGS_publish_streams), static_cast<uint64_t>(stuck) * per_stream,
          absl::Minutes(5));
    }
    absl::SleepFor(absl::Seconds(2));
  });
  // Settled: cut streams gone, the janitor's trim has run.
  absl::SleepFor(absl::Seconds(12));
  const ProcessSample settled = Broker();
  for (int fd : stuck_fds) ::close(fd);
  Result("memory", {{"message_bytes", absl::StrCat(bytes)},
                    {"messages", absl::StrCat(load.acknowledged)},
                    {"stuck_streams", absl::StrCat(stuck_fds.size())},
                    {"budget_mib", F(budget_mib, 0)},
                    {"rss_before_mib", F(before.rss_kib / 1024)},
                    {"rss_peak_mib", F(peak_mib)},
                    {"rss_settled_mib", F(settled.rss_kib / 1024)},
                    {"peak_over_budget", F(peak_mib / budget_mib, 2)}});
  return 0;
}

// Streams spread over several replicas while a script restarts each
// replica in turn (bench/run.sh redis-roll); unicast publishes at a fixed
// rate, each retried on the next replica with its idempotency key until
// acknowledged. Every stream reconnects like EventSource (to the next
// replica, with Last-Event-ID) and must see each client's messages exactly
// once, in order, with no reset.
int Roll() {
  const size_t n = absl::GetFlag(FLAGS_streams);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const int rate = std::max(1, absl::GetFlag(FLAGS_rate));
  std::vector<std::string> targets =
      absl::StrSplit(absl::GetFlag(FLAGS_grpc_targets), ',', absl::SkipEmpty());
  if (targets.empty()) targets.push_back(absl::GetFlag(FLAGS_grpc_target));
  std::vector<std::unique_ptr<Publisher>> publishers;
  for (const std::string& target : targets)
    publishers.push_back(std::make_unique<Publisher>(target));
  // Per client: the last sequence acknowledged (publisher thread) and seen.
  std::vector<std::atomic<uint64_t>> acked(n);
  std::vector<uint64_t> seen(n, 0);
  uint64_t received = 0, duplicates = 0, gaps = 0, resets = 0;
  LatencyLog latency;
  SseFleet fleet(Fleet(), [&](size_t stream, const SseEvent& event, absl::Time at) {
    if (event.type == "reset") {
      ++resets;
      return;
    }
    Stamp stamp;
    if (event.type != "message" || !ParseStamp(event.data, &stamp)) return;
    latency.Add(stamp.sent_nanos, at);
    ++received;
    uint64_t& last = seen[stream];
    if (stamp.sequence <= last) {
      ++duplicates;
      return;
    }
    gaps += stamp.sequence - last - 1;
    last = stamp.sequence;
  });
  for (size_t i = 0; i < n; ++i) fleet.Add(ClientId(i));
  const double connect_s = ConnectAll(fleet, absl::Seconds(60));
  std::atomic<bool> sending{true};
  std::atomic<uint64_t> published{0}, retries{0}, failed{0};
  std::thread sender([&] {
    const absl::Time start = absl::Now();
    const uint64_t total = static_cast<uint64_t>(absl::ToDoubleSeconds(duration) * rate);
    for (uint64_t i = 0; i < total; ++i) {
      absl::SleepFor(start + i * absl::Seconds(1) / rate - absl::Now());
      const size_t client = i % n;
      const uint64_t sequence = i / n + 1;
      v1::PublishRequest request;
      request.set_client_id(ClientId(client));
      request.set_data(StampedData(sequence));
      request.set_idempotency_key(absl::StrCat("roll-", client, "-", sequence));
      const absl::Time give_up = absl::Now() + absl::Seconds(20);
      bool ok = false;
      for (size_t attempt = 0; !ok && absl::Now() < give_up; ++attempt) {
        ok = publishers[(i + attempt) % publishers.size()]->Publish(request).ok();
        if (!ok) {
          retries.fetch_add(1);
          absl::SleepFor(absl::Milliseconds(50));
        }
      }
      if (!ok) {
        failed.fetch_add(1);
        continue;
      }
      acked[client].store(sequence);
      published.fetch_add(1);
    }
    sending.store(false);
  });
  auto all_seen = [&] {
    if (sending.load()) return false;
    for (size_t c = 0; c < n; ++c) {
      if (seen[c] < acked[c].load()) return false;
    }
    return true;
  };
  fleet.RunUntil(all_seen, absl::Now() + duration + absl::Seconds(60));
  sender.join();
  fleet.RunUntil(all_seen, absl::Now() + absl::Seconds(30));
  uint64_t lost = gaps;
  for (size_t c = 0; c < n; ++c) {
    if (acked[c].load() > seen[c]) lost += acked[c].load() - seen[c];
  }
  Result("roll", {{"streams", absl::StrCat(n)},
                  {"replicas", absl::StrCat(std::max(publishers.size(), Fleet().ports.size()))},
                  {"connect_s", F(connect_s, 2)},
                  {"published", absl::StrCat(published.load())},
                  {"publish_retries", absl::StrCat(retries.load())},
                  {"publish_failed", absl::StrCat(failed.load())},
                  {"deliveries", absl::StrCat(received)},
                  {"lost", absl::StrCat(lost)},
                  {"duplicates", absl::StrCat(duplicates)},
                  {"resets", absl::StrCat(resets)},
                  {"reconnects", absl::StrCat(fleet.counters().connects - n)},
                  {"p50_ms", F(latency.QuantileMs(0.5))},
                  {"p99_ms", F(latency.QuantileMs(0.99))}});
  return lost == 0 && duplicates == 0 && resets == 0 && failed.load() == 0 ? 0 : 1;
}

// One share of many streams held over several replicas (a process may open
// only 20,000 files, so bench/run.sh runs several): opens its streams,
// writes --ready_file, and waits for one broadcast (published by the
// script) to reach every one of them.
int Reach() {
  const size_t n = absl::GetFlag(FLAGS_streams);
  const size_t offset = absl::GetFlag(FLAGS_client_offset);
  LatencyLog latency;
  std::vector<bool> reached(n, false);
  size_t count = 0;
  SseFleet fleet(Fleet(), [&](size_t stream, const SseEvent& event, absl::Time at) {
    Stamp stamp;
    if (event.type != "message" || !ParseStamp(event.data, &stamp) || reached[stream]) return;
    reached[stream] = true;
    ++count;
    latency.Add(stamp.sent_nanos, at);
  });
  for (size_t i = 0; i < n; ++i) fleet.Add(ClientId(offset + i));
  const double connect_s = ConnectAll(fleet, absl::Seconds(120));
  if (const std::string ready = absl::GetFlag(FLAGS_ready_file); !ready.empty()) {
    if (FILE* file = std::fopen(ready.c_str(), "w"); file != nullptr) std::fclose(file);
  }
  fleet.RunUntil([&] { return count >= n; }, absl::Now() + absl::GetFlag(FLAGS_duration));
  Result("reach", {{"streams", absl::StrCat(n)},
                   {"open", absl::StrCat(fleet.open_streams())},
                   {"connect_s", F(connect_s, 2)},
                   {"reached", absl::StrCat(count)},
                   {"p50_ms", F(latency.QuantileMs(0.5))},
                   {"max_ms", F(latency.QuantileMs(1.0))}});
  return count == n ? 0 : 1;
}

// Publishes one broadcast stamped with the time (for reach).
int BroadcastOnce() {
  Publisher publisher(absl::GetFlag(FLAGS_grpc_target));
  const absl::Status sent = publisher.Broadcast(StampedData(1));
  Result("broadcast_once", {{"ok", sent.ok() ? "1" : "0"}});
  return sent.ok() ? 0 : 1;
}

}  // namespace
}  // namespace pushbroker::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  pushbroker::bench::RaiseFileLimit();
  const std::string scenario = absl::GetFlag(FLAGS_scenario);
  using namespace pushbroker::bench;  // NOLINT
  const std::map<std::string, int (*)()> scenarios = {{"hold", Hold},
                                                      {"fanout", Fanout},
                                                      {"unicast", Unicast},
                                                      {"publish", PublishOnly},
                                                      {"replay", Replay},
                                                      {"storm", Storm},
                                                      {"soak", Soak},
                                                      {"evict", Evict},
                                                      {"history", HistoryStorm},
                                                      {"memory", Memory},
                                                      {"roll", Roll},
                                                      {"reach", Reach},
                                                      {"broadcast_once", BroadcastOnce},
                                                      {"watch_group", WatchGroup},
                                                      {"wait_latency", WaitLatency}};
  auto it = scenarios.find(scenario);
  if (it == scenarios.end()) {
    std::fprintf(stderr, "unknown --scenario=%s\n", scenario.c_str());
    return 2;
  }
  return it->second();
}
