#include "client/sse_parser.h"

namespace pushbroker {

void SseParser::Feed(absl::string_view bytes, std::vector<SseEvent>* out) {
  for (char c : bytes) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (c == '\n') continue;
    }
    if (c == '\r' || c == '\n') {
      skip_lf_ = c == '\r';
      std::string line;
      line.swap(pending_);
      ProcessLine(line, out);
    } else {
      pending_.push_back(c);
    }
  }
}

void SseParser::ProcessLine(absl::string_view line, std::vector<SseEvent>* out) {
  if (line.empty()) {  // dispatch
    if (data_.empty()) {
      type_.clear();
      return;
    }
    if (data_.back() == '\n') data_.pop_back();
    out->push_back(SseEvent{type_.empty() ? "message" : type_, data_, last_event_id_});
    data_.clear();
    type_.clear();
    return;
  }
  if (line.front() == ':') {
    ++comments_;
    return;
  }
  absl::string_view field = line;
  absl::string_view value;
  const size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "event") {
    type_ = std::string(value);
  } else if (field == "data") {
    data_.append(value.data(), value.size());
    data_.push_back('\n');
  } else if (field == "id") {
    if (value.find('\0') == absl::string_view::npos) last_event_id_ = std::string(value);
  } else if (field == "retry") {
    if (!value.empty() && value.find_first_not_of("0123456789") == absl::string_view::npos &&
        value.size() < 10) {
      retry_ms_ = static_cast<uint32_t>(std::stoul(std::string(value)));
    }
  }
}

}  // namespace pushbroker
