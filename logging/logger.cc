#include "logging/logger.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace pushbroker {
namespace {

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      return "off";
  }
  return "info";
}

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

// Owns its spdlog logger (not registered globally); spdlog's mt sink
// serializes lines from concurrent threads.
class StderrJsonLogger final : public Logger {
 public:
  explicit StderrJsonLogger(LogLevel level)
      : level_(level),
        logger_(std::make_shared<spdlog::logger>(
            "push-broker", std::make_shared<spdlog::sinks::stderr_sink_mt>())) {
    logger_->set_pattern("%v");
    logger_->set_level(ToSpdlog(level));
    logger_->flush_on(spdlog::level::trace);
  }

  bool Enabled(LogLevel level) const override {
    return level >= level_ && level_ != LogLevel::kOff;
  }

  void Log(LogLevel level, absl::string_view event, nlohmann::ordered_json fields) override {
    if (!Enabled(level)) return;
    nlohmann::ordered_json line;
    line["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
    line["level"] = LevelName(level);
    line["event"] = std::string(event);
    if (fields.is_object()) {
      for (auto& [key, value] : fields.items()) line[key] = std::move(value);
    }
    logger_->log(ToSpdlog(level), "{}",
                 line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }

 private:
  const LogLevel level_;
  std::shared_ptr<spdlog::logger> logger_;
};

class DiscardingLogger final : public Logger {
 public:
  bool Enabled(LogLevel) const override { return false; }
  void Log(LogLevel, absl::string_view, nlohmann::ordered_json) override {}
};

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "warn" || lower == "warning") return LogLevel::kWarn;
  if (lower == "error") return LogLevel::kError;
  if (lower == "off") return LogLevel::kOff;
  return absl::InvalidArgumentError(
      absl::StrCat("'", name, "' is not a log level (debug, info, warn, error, off)"));
}

std::unique_ptr<Logger> NewStderrJsonLogger(LogLevel level) {
  return std::make_unique<StderrJsonLogger>(level);
}

Logger& NullLogger() {
  static DiscardingLogger* const logger = new DiscardingLogger();  // stateless
  return *logger;
}

}  // namespace pushbroker
