// push-broker: gRPC publish API in, Server-Sent Events out.
#include <malloc.h>
#include <signal.h>

#include <cstdio>

#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "app/broker_app.h"
#include "app/flags.h"
#include "tools/flags_usage.h"

namespace {

// --help lists the broker's flags.
void SetUpUsage() {
  pushbroker::SetUsage(
      "push-broker: backends publish over gRPC, browsers receive over Server-Sent Events.\n"
      "Usage: push-broker [--grpc_port=50051] [--http_port=8080] [--admin_port=9090] ...\n"
      "Every flag can also be set as PUSH_BROKER_<FLAG> in the environment.",
      "app/flags");
}

}  // namespace

// jemalloc's settings, read at its start when the broker is linked with it
// (CMakeLists.txt; ignored otherwise): freed pages go back to the system
// within a quarter second, purged by jemalloc's own background thread rather
// than by the thread that freed them. Longer decays left the 60 KB-message
// memory benchmark 45% over its budget; purging on every free cost unary
// publishes two thirds of their rate.
extern "C" const char* malloc_conf = "background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0";

namespace {

void TuneProcess() {
  // Debian builds Abseil with its mutex deadlock detection on; it walks a
  // lock graph on every lock (5% of a large broadcast's CPU, by perf). The
  // test suite keeps it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // With glibc's malloc (a build without jemalloc):
  // glibc makes up to 8 malloc arenas per core, one per busy thread (gRPC's,
  // the request threads): freed message memory then sits in many heaps at
  // once. Four keep contention low on small machines and the slack bounded.
  mallopt(M_ARENA_MAX, 4);
  // Large payloads (32 KiB and up) get pages of their own, returned to the
  // system the moment they are evicted, instead of fragmenting the heaps
  // (a fixed threshold also stops glibc from raising it as they are freed).
  mallopt(M_MMAP_THRESHOLD, 32 * 1024);
}

// Blocks the stop signals before any thread starts, so every thread
// inherits the mask and only the wait in RunUntilStopped receives them.
sigset_t BlockStopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return stop_signals;
}

// SIGHUP re-reads the secrets; SIGTERM and SIGINT drain and stop (exit 0).
// A listener that failed for good stops the process with exit 1, so
// Kubernetes restarts it instead of routing to a dead port.
int RunUntilStopped(pushbroker::BrokerApp& app, const sigset_t& stop_signals) {
  const timespec tick{0, 500 * 1000 * 1000};
  while (true) {
    const int signal_number = sigtimedwait(&stop_signals, nullptr, &tick);
    if (signal_number == SIGHUP) {
      // A failed reload keeps the old secrets and logs why; nothing else to do.
      [[maybe_unused]] const absl::Status reloaded = app.ReloadSecrets();
    } else if (signal_number == SIGTERM || signal_number == SIGINT) {
      app.Shutdown();
      return 0;
    } else if (!app.ListenersHealthy()) {
      std::fprintf(stderr, "push-broker: a listener failed; stopping\n");
      app.Shutdown();
      return 1;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  SetUpUsage();
  if (absl::Status from_env = pushbroker::ApplyFlagsFromEnvironment(); !from_env.ok()) {
    std::fprintf(stderr, "push-broker: %s\n", std::string(from_env.message()).c_str());
    return 2;
  }
  absl::ParseCommandLine(argc, argv);
  TuneProcess();
  absl::StatusOr<pushbroker::AppOptions> options = pushbroker::AppOptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "push-broker: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  const sigset_t stop_signals = BlockStopSignals();
  absl::StatusOr<std::unique_ptr<pushbroker::BrokerApp>> app =
      pushbroker::BrokerApp::Start(*std::move(options));
  if (!app.ok()) {
    std::fprintf(stderr, "push-broker: %s\n", app.status().ToString().c_str());
    return 1;
  }
  return RunUntilStopped(**app, stop_signals);
}
