// Client tokens: HS256 JSON Web Tokens whose `sub` is a client id. Pure
// functions over outside input; safe from any thread.
//
// Accepted: a compact JWS `header.payload.signature` whose header says
// {"alg":"HS256"} (typ, if present, "JWT"), signed with one of the secrets,
// whose payload has a string `sub` and a numeric `exp` not passed beyond
// the leeway, and no `nbf` in the future beyond it.
#ifndef PUSH_BROKER_AUTH_CLIENT_TOKEN_H_
#define PUSH_BROKER_AUTH_CLIENT_TOKEN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace pushbroker {

struct ClientToken {
  std::string client_id;  // the `sub` claim
  absl::Time expires_at;  // the `exp` claim
};

// UNAUTHENTICATED with the reason (malformed, wrong algorithm, bad
// signature, expired, not yet valid) unless the token verifies with one of
// `secrets`. Compares signatures in constant time.
absl::StatusOr<ClientToken> VerifyClientToken(absl::string_view token,
                                              const std::vector<std::string>& secrets,
                                              absl::Time now, absl::Duration leeway);

// A token for `client_id` valid until `expires_at`, signed with `secret`.
std::string SignClientToken(absl::string_view client_id, absl::Time issued_at,
                            absl::Time expires_at, absl::string_view secret);

}  // namespace pushbroker

#endif  // PUSH_BROKER_AUTH_CLIENT_TOKEN_H_
