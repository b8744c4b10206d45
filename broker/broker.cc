#include "broker/broker.h"

#include <algorithm>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "broker/status_macros.h"

namespace pushbroker {

Broker::Broker(BrokerOptions options, MailboxStore* store, const Clock* clock)
    : options_(options),
      store_(store),
      clock_(clock),
      idempotency_(options.idempotency_window, options.idempotency_max_keys) {
  store_->SetAppendListener(&fanout_);
}

absl::Status Broker::ValidatePublish(const PublishRequest& request) const {
  RETURN_IF_ERROR(ValidateEventType(request.event, options_.limits));
  RETURN_IF_ERROR(ValidateData(request.data, options_.limits));
  RETURN_IF_ERROR(ValidateIdempotencyKey(request.idempotency_key, options_.limits));
  if (request.ttl.has_value() && *request.ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("ttl must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Broker::ResolveRecipients(const PublishTarget& target) {
  switch (target.kind) {
    case PublishTarget::Kind::kUnset:
      return absl::InvalidArgumentError(
          "no target: set one of client_id, clients, topic or broadcast");
    case PublishTarget::Kind::kClient:
      RETURN_IF_ERROR(ValidateClientId(target.client_id, options_.limits));
      return std::vector<std::string>{target.client_id};
    case PublishTarget::Kind::kClients: {
      if (target.client_ids.empty()) {
        return absl::InvalidArgumentError("clients.ids is empty");
      }
      if (target.client_ids.size() > options_.max_publish_targets) {
        return absl::InvalidArgumentError(absl::StrCat("clients.ids has ", target.client_ids.size(),
                                                       " entries; --max_publish_targets is ",
                                                       options_.max_publish_targets));
      }
      std::vector<std::string> recipients;
      std::unordered_set<std::string> seen;
      for (size_t i = 0; i < target.client_ids.size(); ++i) {
        const std::string& id = target.client_ids[i];
        absl::Status valid = ValidateClientId(id, options_.limits);
        if (!valid.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("clients.ids[", i, "]: ", valid.message()));
        }
        if (seen.insert(id).second) recipients.push_back(id);
      }
      return recipients;
    }
    case PublishTarget::Kind::kTopic:
      RETURN_IF_ERROR(ValidateTopic(target.topic, options_.limits));
      return store_->TopicMembers(target.topic);
    case PublishTarget::Kind::kBroadcast:
      return store_->ListClients();
  }
  return absl::InternalError("unknown target kind");
}

absl::StatusOr<PublishResult> Broker::PublishOnce(PublishRequest& request) {
  ASSIGN_OR_RETURN(std::vector<std::string> recipients, ResolveRecipients(request.target));
  const absl::Time now = clock_->Now();
  const absl::Time expires = request.ttl.has_value() ? now + *request.ttl : absl::InfiniteFuture();
  auto payload =
      std::make_shared<const Payload>(Payload{std::move(request.event), std::move(request.data)});
  ASSIGN_OR_RETURN(
      std::vector<AppendedMessage> appended,
      store_->Append(recipients, std::move(payload), now, expires, request.idempotency_key));

  PublishResult result;
  // A store shared by replicas knows the key: every mailbox had it already.
  result.duplicate = !appended.empty() &&
                     std::all_of(appended.begin(), appended.end(),
                                 [](const AppendedMessage& message) { return message.duplicate; });
  result.mailboxes = static_cast<uint32_t>(appended.size());
  for (const AppendedMessage& message : appended) {
    result.streams += static_cast<uint32_t>(message.streams);
  }
  const size_t kind = TargetIndex(request.target.kind);
  stats_.publishes[kind].fetch_add(1, std::memory_order_relaxed);
  stats_.appended[kind].fetch_add(result.mailboxes, std::memory_order_relaxed);
  stats_.delivered[kind].fetch_add(result.streams, std::memory_order_relaxed);
  if (request.target.kind == PublishTarget::Kind::kClient && !appended.empty()) {
    result.id = appended.front().id.ToString();
  } else if (request.return_ids) {
    result.recipients.reserve(appended.size());
    for (const AppendedMessage& message : appended) {
      result.recipients.emplace_back(message.client_id, message.id.ToString());
    }
  }
  return result;
}

absl::StatusOr<PublishResult> Broker::Publish(PublishRequest request) {
  RETURN_IF_ERROR(ValidatePublish(request));
  if (request.idempotency_key.empty()) return PublishOnce(request);
  return idempotency_.RunOnce(request.idempotency_key, clock_->Now(),
                              [&]() { return PublishOnce(request); });
}

absl::Status Broker::Subscribe(const std::string& client_id, const std::string& topic) {
  RETURN_IF_ERROR(ValidateClientId(client_id, options_.limits));
  RETURN_IF_ERROR(ValidateTopic(topic, options_.limits));
  return store_->AddToTopic(client_id, topic, clock_->Now());
}

absl::Status Broker::Unsubscribe(const std::string& client_id, const std::string& topic) {
  RETURN_IF_ERROR(ValidateClientId(client_id, options_.limits));
  RETURN_IF_ERROR(ValidateTopic(topic, options_.limits));
  return store_->RemoveFromTopic(client_id, topic);
}

absl::StatusOr<ClientState> Broker::GetClient(const std::string& client_id) {
  RETURN_IF_ERROR(ValidateClientId(client_id, options_.limits));
  const absl::Time now = clock_->Now();
  ASSIGN_OR_RETURN(MailboxInfo info, store_->Describe(client_id, now));
  ClientState state;
  state.client_id = client_id;
  state.streams = info.streams.value_or(fanout_.StreamCount(client_id));
  state.online = state.streams > 0;
  state.topics = std::move(info.topics);
  state.mailbox_size = info.size;
  state.first_id = info.first_id;
  state.last_id = info.last_id;
  if (state.online) {
    state.last_seen = now;
  } else {
    state.last_seen = info.last_seen.has_value()
                          ? *info.last_seen
                          : fanout_.LastSeen(client_id).value_or(absl::InfinitePast());
  }
  return state;
}

absl::StatusOr<HistoryPage> Broker::History(const std::string& client_id,
                                            const std::string& after_id, size_t limit) {
  RETURN_IF_ERROR(ValidateClientId(client_id, options_.limits));
  if (!after_id.empty() && !MessageId::Parse(after_id).has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("after_id '", after_id.substr(0, 64),
                                                   "' is not an id of the form EPOCH-OFFSET"));
  }
  ReadRequest read;
  read.from = after_id.empty() ? ReadRequest::From::kOldestRetained : ReadRequest::From::kAfterId;
  read.after_id = after_id;
  read.limit =
      limit == 0 ? options_.history_default_limit : std::min(limit, options_.history_max_limit);
  ASSIGN_OR_RETURN(ReadResult result, store_->Read(client_id, read, clock_->Now()));
  return HistoryPage{std::move(result.messages), result.reset, result.earliest_retained,
                     result.more};
}

absl::StatusOr<size_t> Broker::Disconnect(const std::string& client_id, uint32_t retry_ms) {
  RETURN_IF_ERROR(ValidateClientId(client_id, options_.limits));
  ASSIGN_OR_RETURN(size_t remote,
                   store_->CloseRemoteStreams(client_id, CloseCause::kDisconnected, retry_ms));
  std::vector<std::shared_ptr<StreamSink>> sinks = fanout_.SinksOf(client_id);
  for (const auto& sink : sinks) sink->Close(CloseCause::kDisconnected, retry_ms);
  return remote + sinks.size();
}

absl::Status Broker::DeleteClient(const std::string& client_id) {
  RETURN_IF_ERROR(ValidateClientId(client_id, options_.limits));
  RETURN_IF_ERROR(store_->Delete(client_id));
  for (const auto& sink : fanout_.SinksOf(client_id)) {
    sink->Close(CloseCause::kClientDeleted, 0);
  }
  fanout_.Forget(client_id);
  return absl::OkStatus();
}

absl::StatusOr<OpenedStream> Broker::OpenStream(const std::string& client_id,
                                                const std::optional<std::string>& last_event_id,
                                                std::shared_ptr<StreamSink> sink) {
  RETURN_IF_ERROR(ValidateClientId(client_id, options_.limits));
  const absl::Time now = clock_->Now();
  // Live first, then replay: a message appended in between reaches the sink
  // both ways, and the sink drops the copy by offset.
  if (!fanout_.Register(client_id, sink, options_.max_streams_per_client)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("client ", client_id, " already has --max_streams_per_client=",
                     options_.max_streams_per_client, " streams and polls open; close one first"));
  }
  ReadRequest read;
  read.create = true;
  read.open_stream = true;
  if (last_event_id.has_value()) {
    read.from = ReadRequest::From::kAfterId;
    read.after_id = *last_event_id;
  } else {
    read.from = ReadRequest::From::kUndelivered;
  }
  absl::StatusOr<ReadResult> result = store_->Read(client_id, read, now);
  if (!result.ok()) {
    fanout_.Unregister(client_id, sink.get(), now);
    // The client has no mailbox (refused at --max_mailboxes): keep nothing
    // of it, or refused clients could grow the broker without bound.
    if (result.status().code() != absl::StatusCode::kNotFound) fanout_.Forget(client_id);
    return result.status();
  }
  // Touch cannot fail here: the read above created the mailbox, and a
  // concurrent delete only means the stream outlives its mailbox briefly.
  (void)store_->Touch(client_id, now, /*create=*/false);
  if (last_event_id.has_value() && !result->reset.has_value()) {
    // The client sent this id back, so it has everything through it.
    store_->ConfirmDelivered(client_id, *MessageId::Parse(*last_event_id));
  }
  stats_.streams_opened.fetch_add(1, std::memory_order_relaxed);
  if (last_event_id.has_value()) stats_.replays.fetch_add(1, std::memory_order_relaxed);
  if (result->reset.has_value()) {
    stats_.resets[static_cast<size_t>(*result->reset)].fetch_add(1, std::memory_order_relaxed);
  }
  return OpenedStream{result->position, result->reset, result->earliest_retained,
                      std::move(result->messages)};
}

void Broker::ConfirmDelivered(const std::string& client_id, const MessageId& through) {
  store_->ConfirmDelivered(client_id, through);
}

void Broker::UnregisterStream(const std::string& client_id, const StreamSink* sink) {
  const absl::Time now = clock_->Now();
  fanout_.Unregister(client_id, sink, now);
  // A stream's end counts as activity: the idle TTL runs from here.
  store_->ReleaseStream(client_id, now);
}

size_t Broker::Sweep() {
  const std::vector<std::string> removed = store_->ExpireIdle(
      clock_->Now(),
      [this](const std::string& client_id) { return fanout_.StreamCount(client_id) > 0; });
  // A client's last-seen time goes with its mailbox.
  for (const std::string& client_id : removed) fanout_.Forget(client_id);
  return removed.size();
}

}  // namespace pushbroker
