#include "http_edge/cors_policy.h"

#include <algorithm>

namespace pushbroker {

CorsPolicy::CorsPolicy(std::vector<std::string> origins) : origins_(std::move(origins)) {
  any_ = std::find(origins_.begin(), origins_.end(), "*") != origins_.end();
}

bool CorsPolicy::Allows(const httplib::Request& req) const {
  if (!req.has_header("Origin")) return true;
  if (any_) return true;
  const std::string origin = req.get_header_value("Origin");
  if (std::find(origins_.begin(), origins_.end(), origin) != origins_.end()) return true;
  // A page the broker serves itself (the demo, --static_dir): browsers send
  // Origin with a same-origin POST, and it names the Host asked for.
  const size_t scheme_end = origin.find("://");
  return scheme_end != std::string::npos && req.has_header("Host") &&
         origin.compare(scheme_end + 3, std::string::npos, req.get_header_value("Host")) == 0;
}

void CorsPolicy::AddHeaders(const httplib::Request& req, httplib::Response& res) const {
  if (!req.has_header("Origin") || !Allows(req)) return;
  // Echo the origin rather than "*" so credentialed requests (cookies) work.
  res.set_header("Access-Control-Allow-Origin", req.get_header_value("Origin"));
  res.set_header("Access-Control-Allow-Credentials", "true");
  res.set_header("Vary", "Origin");
}

}  // namespace pushbroker
