// ProcessProbe: what another process costs, read from /proc: resident
// memory, threads, open descriptors and CPU time. For the broker under
// benchmark.
#ifndef PUSH_BROKER_BENCH_LOAD_PROCESS_PROBE_H_
#define PUSH_BROKER_BENCH_LOAD_PROCESS_PROBE_H_

#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace pushbroker::bench {

struct ProcessSample {
  double rss_kib = 0;
  int threads = 0;
  int fds = 0;
  double cpu_s = 0;  // user and system time so far
};

inline ProcessSample SampleProcess(pid_t pid) {
  ProcessSample sample;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) sample.rss_kib = std::stod(line.substr(6));
    if (line.rfind("Threads:", 0) == 0) sample.threads = std::stoi(line.substr(8));
  }
  // /proc/PID/stat: utime and stime are fields 14 and 15, counted after the
  // command name's closing parenthesis (the name may hold spaces).
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  if (const size_t close = text.rfind(')'); close != std::string::npos) {
    std::istringstream fields(text.substr(close + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i >= 14) ticks += std::stod(field);
    }
    sample.cpu_s = ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
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
