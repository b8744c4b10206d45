// push-broker: gRPC publish API in, Server-Sent Events out.
#include <signal.h>

#include <cstdio>

#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "absl/flags/usage.h"
#include "app/broker_app.h"
#include "app/flags.h"

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "push-broker: backends publish over gRPC, browsers receive over Server-Sent Events.\n"
      "Usage: push-broker [--grpc_port=50051] [--http_port=8080] [--admin_port=9090] ...");
  if (absl::Status from_env = pushbroker::ApplyFlagsFromEnvironment(); !from_env.ok()) {
    std::fprintf(stderr, "push-broker: %s\n", std::string(from_env.message()).c_str());
    return 2;
  }
  absl::ParseCommandLine(argc, argv);
  // Debian builds Abseil with its mutex deadlock detection on; it walks a
  // lock graph on every lock (5% of a large broadcast's CPU, by perf). The
  // test suite keeps it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  absl::StatusOr<pushbroker::AppOptions> options = pushbroker::AppOptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "push-broker: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }

  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<pushbroker::BrokerApp>> app =
      pushbroker::BrokerApp::Start(*std::move(options));
  if (!app.ok()) {
    std::fprintf(stderr, "push-broker: %s\n", app.status().ToString().c_str());
    return 1;
  }
  // SIGHUP re-reads the secrets; SIGTERM and SIGINT drain and stop.
  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) == 0 && signal_number == SIGHUP) {
    (void)(*app)->ReloadSecrets();
  }
  (*app)->Shutdown();
  return 0;
}
