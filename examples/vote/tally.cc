#include "examples/vote/tally.h"

#include <algorithm>

#include "nlohmann/json.hpp"

namespace vote {

Tally::Tally(const std::vector<std::string>& choices) {
  for (const std::string& choice : choices) counts_[choice] = 0;
}

bool Tally::Count(const std::string& event_id, const std::string& choice) {
  auto it = counts_.find(choice);
  if (it == counts_.end()) return false;
  if (std::find(recent_.begin(), recent_.end(), event_id) != recent_.end()) return false;
  ++it->second;
  ++total_;
  recent_.push_back(event_id);
  if (recent_.size() > kRecent) recent_.pop_front();
  return true;
}

std::string Tally::ToJson() const {
  nlohmann::json json = {{"counts", counts_}, {"total", total_}, {"recent", recent_}};
  return json.dump();
}

bool Tally::Restore(const std::string& text) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object() || !json["counts"].is_object() ||
      !json["total"].is_number_unsigned() || !json["recent"].is_array()) {
    return false;
  }
  for (const auto& [choice, count] : json["counts"].items()) {
    if (count.is_number_unsigned()) counts_[choice] = count.get<uint64_t>();
  }
  total_ = json["total"].get<uint64_t>();
  recent_.clear();
  for (const auto& id : json["recent"]) {
    if (id.is_string()) recent_.push_back(id.get<std::string>());
  }
  return true;
}

}  // namespace vote
