// Tally: the vote example's state. Counts votes per choice and remembers
// the ids of the last events it counted, so an event redelivered after a
// restart (at least once) is not counted twice. Saved and restored as JSON
// in a broker mailbox. Not thread-safe: the backend has one thread.
#ifndef PUSH_BROKER_EXAMPLES_VOTE_TALLY_H_
#define PUSH_BROKER_EXAMPLES_VOTE_TALLY_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace vote {

class Tally {
 public:
  explicit Tally(const std::vector<std::string>& choices);

  // Counts a vote carried by event `event_id`. False when the choice is
  // unknown or the event was counted already.
  bool Count(const std::string& event_id, const std::string& choice);
  // What pages see, plus the recent ids: {"counts": {...}, "total": N, "recent": [...]}.
  std::string ToJson() const;
  // Restores a ToJson() text; false (unchanged) when it is not one.
  bool Restore(const std::string& json);
  uint64_t total() const { return total_; }

 private:
  static constexpr size_t kRecent = 256;  // far more than one backend holds unconfirmed
  std::map<std::string, uint64_t> counts_;
  uint64_t total_ = 0;
  std::deque<std::string> recent_;
};

}  // namespace vote

#endif  // PUSH_BROKER_EXAMPLES_VOTE_TALLY_H_
