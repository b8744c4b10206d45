#include "metrics/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace pushbroker {
namespace {

double CpuSeconds() {
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  // Fields after the command (which may hold spaces) start past the last ')'.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  double size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the descriptor of this listing
}

double Threads() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stod(line.substr(8));
  }
  return 0;
}

}  // namespace

void AddProcessMetrics(MetricsRegistry& registry) {
  registry.AddValue("process_cpu_seconds_total", "User and system CPU time spent, in seconds.",
                    MetricType::kCounter, CpuSeconds);
  registry.AddValue("process_resident_memory_bytes", "Resident memory size in bytes.",
                    MetricType::kGauge, ResidentBytes);
  registry.AddValue("process_open_fds", "Number of open file descriptors.", MetricType::kGauge,
                    OpenFds);
  registry.AddValue("process_threads", "Number of OS threads in the process.", MetricType::kGauge,
                    Threads);
}

}  // namespace pushbroker
