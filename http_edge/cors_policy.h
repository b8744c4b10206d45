// CorsPolicy: which browser origins may read the edge's responses
// (--cors_origins). Immutable after construction; safe from any thread.
#ifndef PUSH_BROKER_HTTP_EDGE_CORS_POLICY_H_
#define PUSH_BROKER_HTTP_EDGE_CORS_POLICY_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "httplib.h"

namespace pushbroker {

class CorsPolicy {
 public:
  // `origins`: exact origins such as "https://app.example.com", or "*" for
  // any. Empty: same-origin pages and non-browser clients only.
  explicit CorsPolicy(std::vector<std::string> origins);

  // A request without an Origin header, or whose Origin names the Host it
  // asked (a page the broker serves), is not cross-origin and always passes.
  bool Allows(const httplib::Request& req) const;
  // Adds the Access-Control-* headers for an allowed cross-origin request.
  void AddHeaders(const httplib::Request& req, httplib::Response& res) const;

 private:
  std::vector<std::string> origins_;
  bool any_ = false;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_CORS_POLICY_H_
