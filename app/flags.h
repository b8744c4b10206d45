// Command-line flags of push-broker, turned into the options the libraries
// take. Flags are defined only in app/; libraries never read them.
#ifndef PUSH_BROKER_APP_FLAGS_H_
#define PUSH_BROKER_APP_FLAGS_H_

#include "absl/status/statusor.h"
#include "app/broker_app.h"

namespace pushbroker {

// Reads the parsed flags; INVALID_ARGUMENT names the first bad one.
absl::StatusOr<AppOptions> AppOptionsFromFlags();

}  // namespace pushbroker

#endif  // PUSH_BROKER_APP_FLAGS_H_
