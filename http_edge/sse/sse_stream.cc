#include "http_edge/sse/sse_stream.h"

#include "http_edge/sse/sse_format.h"
#include "http_edge/sse/sse_loop.h"

namespace pushbroker {
namespace {

// Names the SSE frame among a fan-out batch's shared encodings.
constexpr char kSseFrameEncoder = 0;

}  // namespace

SseStream::SseStream(std::string client_id, SseLoop* loop, size_t max_queued_bytes,
                     StreamMemory* memory, absl::Time opened_at, StreamSlot slot)
    : client_id_(std::move(client_id)),
      opened_at_(opened_at),
      loop_(loop),
      max_queued_bytes_(max_queued_bytes),
      memory_(memory),
      slot_(std::move(slot)) {}

StreamSlot SseStream::TakeSlot() {
  absl::MutexLock lock(&mu_);
  return std::move(slot_);
}

SseStream::~SseStream() {
  absl::MutexLock lock(&mu_);
  memory_->Release(queued_own_bytes_);
}

bool SseStream::ScheduleWakeLocked() {
  if (wake_scheduled_) return false;
  wake_scheduled_ = true;
  return true;
}

void SseStream::EnqueueLocked(OutChunk chunk) {
  queued_bytes_ += chunk.size();
  queued_own_bytes_ += chunk.own_size();
  memory_->Add(chunk.own_size());
  queued_.push_back(std::move(chunk));
}

FanoutBatch::Encoding SseStream::NewFrame(const Payload& payload) const {
  auto* frame = new std::string(EncodeSharedFrame(payload.event, payload.data));
  memory_->Add(frame->size());
  return FanoutBatch::Encoding(frame, [memory = memory_](const std::string* gone) {
    memory->Release(gone->size());
    delete gone;
  });
}

bool SseStream::QueueMessageLocked(const Message& message, FanoutBatch* batch) {
  if (message.id.epoch == epoch_ && message.id.offset <= queued_through_) return false;  // sent
  if (message.id.epoch != epoch_ || message.id.offset != queued_through_ + 1) {
    // No retry advice: the client keeps the one it has.
    return EndLocked("");
  }
  queued_through_ = message.id.offset;
  auto encode = [this, &message] { return NewFrame(*message.payload); };
  FanoutBatch::Encoding frame =
      batch != nullptr ? batch->Encoded(message.payload, &kSseFrameEncoder, encode) : encode();
  char head[kMaxFrameHead];
  const size_t head_size =
      EncodeFrameHead(message.id.epoch, message.id.offset, frame->size(), head);
  EnqueueLocked(OutChunk(absl::string_view(head, head_size), std::move(frame), message.published_at,
                         message.id.offset, message.id.offset));
  return false;
}

void SseStream::Prime(std::string opening_chunks, uint64_t replayed_from, uint64_t replayed_through,
                      uint64_t epoch) {
  bool wake;
  {
    absl::MutexLock lock(&mu_);
    epoch_ = epoch;
    if (!opening_chunks.empty()) {
      // Opening chunks go before anything held back.
      queued_bytes_ += opening_chunks.size();
      queued_own_bytes_ += opening_chunks.size();
      memory_->Add(opening_chunks.size());
      opening_bytes_ = opening_chunks.size();
      queued_.insert(queued_.begin(), OutChunk(std::move(opening_chunks), absl::InfinitePast(),
                                               replayed_through, replayed_from));
    }
    queued_through_ = replayed_through;
    priming_ = false;
    bool ended = false;
    for (const Message& message : held_while_priming_) {
      ended |= QueueMessageLocked(message, nullptr);
    }
    held_while_priming_.clear();
    wake = ScheduleWakeLocked() || ended;
  }
  if (wake) loop_->Wake(shared_from_this());
}

void SseStream::Deliver(const Message& message, FanoutBatch& batch) {
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    if (ending_ || overflowed_) return;
    if (priming_) {
      held_while_priming_.push_back(message);
      return;
    }
    if (QueueMessageLocked(message, &batch)) {
      wake = true;
    } else if (const size_t live_bytes = queued_bytes_ - opening_bytes_;
               live_bytes > max_queued_bytes_ || memory_->MustCut(live_bytes)) {
      overflowed_ = true;
      queued_.clear();
      memory_->Release(queued_own_bytes_);
      queued_bytes_ = 0;
      queued_own_bytes_ = 0;
      opening_bytes_ = 0;
      // Always wake: while the peer blocks, a wake may be pending that the
      // loop will not act on until the socket drains.
      wake_scheduled_ = true;
      wake = true;
    } else {
      wake = ScheduleWakeLocked();
    }
  }
  if (wake) batch.Wake(loop_, shared_from_this());
}

bool SseStream::EndLocked(std::string last) {
  if (ending_ || overflowed_) return false;
  ending_ = true;
  if (!last.empty()) EnqueueLocked(OutChunk(EncodeChunk(last)));
  EnqueueLocked(OutChunk(std::string(LastChunk())));
  return ScheduleWakeLocked();
}

void SseStream::Close(CloseCause cause, uint32_t retry_ms) {
  bool wake;
  {
    absl::MutexLock lock(&mu_);
    wake = EndLocked(cause == CloseCause::kClientDeleted ? "" : EncodeSseRetry(retry_ms));
  }
  if (wake) loop_->Wake(shared_from_this());
}

void SseStream::EndForExpiredToken() {
  bool wake;
  {
    absl::MutexLock lock(&mu_);
    // No id: the page's last id stays that of the last message it got.
    wake = EndLocked("event: token-expired\ndata: {\"reason\":\"token_expired\"}\n\n");
  }
  if (wake) loop_->Wake(shared_from_this());
}

void SseStream::TakeQueued(Batch& batch) {
  absl::MutexLock lock(&mu_);
  wake_scheduled_ = false;
  batch.end_after = false;
  batch.abort = overflowed_;
  if (overflowed_) return;
  if (priming_) return;  // opening chunks not queued yet
  batch.chunks.swap(queued_);
  queued_bytes_ = 0;
  queued_own_bytes_ = 0;
  opening_bytes_ = 0;
  batch.end_after = ending_;
}

uint64_t SseStream::epoch() const {
  absl::MutexLock lock(&mu_);
  return epoch_;
}

bool SseStream::overflowed() const {
  absl::MutexLock lock(&mu_);
  return overflowed_;
}

}  // namespace pushbroker
