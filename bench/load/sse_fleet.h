// SseFleet: many SSE streams from one thread over epoll, each behaving like
// a browser's EventSource: it parses the stream (WHATWG rules), remembers
// the last event id, and when the stream ends reconnects after the advised
// `retry:` with Last-Event-ID. Connections come from several 127.0.0.x
// source addresses so that tens of thousands fit in the ephemeral ports.
// Not thread-safe: one thread calls everything.
#ifndef PUSH_BROKER_BENCH_LOAD_SSE_FLEET_H_
#define PUSH_BROKER_BENCH_LOAD_SSE_FLEET_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bench/load/chunk_decoder.h"
#include "client/sse_parser.h"

namespace pushbroker::bench {

struct FleetOptions {
  int port = 8080;  // the broker's HTTP edge on 127.0.0.1
  // Several replicas' HTTP ports instead: each connect of a stream, the
  // first and every reconnect, goes to the next (as a Service spreads them).
  std::vector<int> ports;
  int source_addresses = 8;      // 127.0.0.2 .. 127.0.0.(1 + n)
  size_t max_connecting = 1000;  // connections opening at once
  bool reconnect = true;         // reconnect after the stream ends, like EventSource
};

struct FleetCounters {
  uint64_t connects = 0;  // attempts started
  uint64_t opened = 0;    // 200 responses
  uint64_t failed = 0;    // refused, reset, or not 200
  uint64_t ended = 0;     // streams the server ended
  uint64_t events = 0;
};

class SseFleet {
 public:
  // Called for every event with the index of its stream and when it was read.
  using EventCallback = std::function<void(size_t stream, const SseEvent& event, absl::Time at)>;
  // Called when a stream's response head arrived (200) and when it ended.
  using StateCallback = std::function<void(size_t stream, bool open, absl::Time at)>;

  SseFleet(FleetOptions options, EventCallback on_event, StateCallback on_state = nullptr);
  ~SseFleet();
  SseFleet(const SseFleet&) = delete;
  SseFleet& operator=(const SseFleet&) = delete;

  // Adds a stream for `client_id`; it connects during Run. Returns its index.
  size_t Add(const std::string& client_id, const std::string& last_event_id = "");
  // Runs the loop until `done()` returns true or `deadline` passes; returns done().
  bool RunUntil(const std::function<bool()>& done, absl::Time deadline);
  // Closes every stream's socket (no reconnect for them until Reopen).
  void CloseAll();
  void Reopen(size_t stream);
  // Closes one stream from our side and queues its reconnect at once, with
  // its Last-Event-ID (a page reload).
  void Restart(size_t stream);

  size_t size() const { return streams_.size(); }
  size_t open_streams() const { return open_; }
  const std::string& last_event_id(size_t stream) const;
  const FleetCounters& counters() const { return counters_; }

 private:
  struct Stream;
  void StartConnect(size_t index);
  void OnWritable(Stream& stream);
  void OnReadable(Stream& stream, absl::Time now);
  void Close(Stream& stream, absl::Time now, bool schedule_reconnect);
  void StartDueConnects(absl::Time now);

  const FleetOptions options_;
  const EventCallback on_event_;
  const StateCallback on_state_;
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::vector<size_t> waiting_;  // streams due to connect, in order
  size_t connecting_ = 0;
  size_t open_ = 0;
  uint64_t next_source_ = 0;
  FleetCounters counters_;
  std::vector<SseEvent> scratch_events_;
  std::string scratch_body_;
};

// Raises this process's open-file limit to its hard limit; returns it.
uint64_t RaiseFileLimit();

}  // namespace pushbroker::bench

#endif  // PUSH_BROKER_BENCH_LOAD_SSE_FLEET_H_
