// ProcessProbe: what another process costs, read from /proc: resident
// memory, threads and open descriptors. For the broker under benchmark.
#ifndef PUSH_BROKER_BENCH_LOAD_PROCESS_PROBE_H_
#define PUSH_BROKER_BENCH_LOAD_PROCESS_PROBE_H_

#include <dirent.h>
#include <sys/types.h>

#include <fstream>
#include <string>

namespace pushbroker::bench {

struct ProcessSample {
  double rss_kib = 0;
  int threads = 0;
  int fds = 0;
};

inline ProcessSample SampleProcess(pid_t pid) {
  ProcessSample sample;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) sample.rss_kib = std::stod(line.substr(6));
    if (line.rfind("Threads:", 0) == 0) sample.threads = std::stoi(line.substr(8));
  }
  if (DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] != '.') ++sample.fds;
    }
    ::closedir(dir);
  }
  return sample;
}

}  // namespace pushbroker::bench

#endif  // PUSH_BROKER_BENCH_LOAD_PROCESS_PROBE_H_
