// Command-line flags of push-broker, turned into the options the libraries
// take. Flags are defined only in app/; libraries never read them.
#ifndef PUSH_BROKER_APP_FLAGS_H_
#define PUSH_BROKER_APP_FLAGS_H_

#include "absl/status/statusor.h"
#include "app/broker_app.h"

namespace pushbroker {

// Sets each push-broker flag named by an environment variable
// PUSH_BROKER_<FLAG NAME IN UPPER CASE> (for a Kubernetes ConfigMap). Call
// before parsing the command line, which then overrides what the environment
// set. INVALID_ARGUMENT names the variable and its bad value.
absl::Status ApplyFlagsFromEnvironment();

// Reads the parsed flags; INVALID_ARGUMENT names the first bad one.
absl::StatusOr<AppOptions> AppOptionsFromFlags();

}  // namespace pushbroker

#endif  // PUSH_BROKER_APP_FLAGS_H_
