// Logger: one JSON object per line for each significant event (start, stream
// open and close, errors, drain), at a level chosen by flag.
#ifndef PUSH_BROKER_LOGGING_LOGGER_H_
#define PUSH_BROKER_LOGGING_LOGGER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace pushbroker {

enum class LogLevel { kDebug, kInfo, kWarn, kError, kOff };

// Parses "debug", "info", "warn", "error" or "off".
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);

// Implementations are safe for concurrent access from multiple threads.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual bool Enabled(LogLevel level) const = 0;
  // Writes {"ts":..., "level":..., "event": event, ...fields} as one line.
  virtual void Log(LogLevel level, absl::string_view event, nlohmann::ordered_json fields) = 0;

  void Info(absl::string_view event, nlohmann::ordered_json fields = {}) {
    if (Enabled(LogLevel::kInfo)) Log(LogLevel::kInfo, event, std::move(fields));
  }
  void Warn(absl::string_view event, nlohmann::ordered_json fields = {}) {
    if (Enabled(LogLevel::kWarn)) Log(LogLevel::kWarn, event, std::move(fields));
  }
  void Error(absl::string_view event, nlohmann::ordered_json fields = {}) {
    if (Enabled(LogLevel::kError)) Log(LogLevel::kError, event, std::move(fields));
  }
  void Debug(absl::string_view event, nlohmann::ordered_json fields = {}) {
    if (Enabled(LogLevel::kDebug)) Log(LogLevel::kDebug, event, std::move(fields));
  }
};

// JSON lines on stderr, through spdlog (thread-safe, one write per line).
std::unique_ptr<Logger> NewStderrJsonLogger(LogLevel level);

// Discards everything; for libraries used without logging.
Logger& NullLogger();

}  // namespace pushbroker

#endif  // PUSH_BROKER_LOGGING_LOGGER_H_
