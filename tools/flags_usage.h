// What --help lists, for the project's programs. Abseil's --help matches
// only flags defined in a file named after the program, and otherwise says
// "No flags matched"; each program's flags live in a file of its own.
// Call once in main(), before parsing the command line.
#ifndef PUSH_BROKER_TOOLS_FLAGS_USAGE_H_
#define PUSH_BROKER_TOOLS_FLAGS_USAGE_H_

#include <string>

#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace pushbroker {

// --help and --helpshort print `usage` and the flags of files whose path
// contains `flags_path` (--helpfull still prints every flag).
inline void SetUsage(absl::string_view usage, absl::string_view flags_path) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [path = std::string(flags_path)](absl::string_view file) {
    return absl::StrContains(file, path);
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
}

}  // namespace pushbroker

#endif  // PUSH_BROKER_TOOLS_FLAGS_USAGE_H_
