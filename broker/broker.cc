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
      idempotency_(options.idempotency_window, options.idempotency_max_keys),
      events_(options.watch, clock),
      presence_(options.offline_grace) {
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

absl::StatusOr<PublishResult> Broker::PublishOnce(PublishRequest& request, PublishWait* wait) {
  ASSIGN_OR_RETURN(std::vector<std::string> recipients, ResolveRecipients(request.target));
  const absl::Time now = clock_->Now();
  const absl::Time expires = request.ttl.has_value() ? now + *request.ttl : absl::InfiniteFuture();
  auto payload =
      std::make_shared<const Payload>(Payload{std::move(request.event), std::move(request.data)});
  // Before the append: a receipt may come back before Append returns.
  std::shared_ptr<ReceiptWaits::Wait> waiting;
  if (wait != nullptr) {
    waiting = receipts_.Begin(recipients, wait->want, now + wait->timeout, std::move(wait->done));
    wait->done = nullptr;  // taken (a moved-from function's state is unspecified)
    if (relay_.wants_changed) relay_.wants_changed();  // receipts may come from other replicas
  }
  absl::StatusOr<std::vector<AppendedMessage>> appended_or =
      store_->Append(recipients, std::move(payload), now, expires, request.idempotency_key);
  if (!appended_or.ok()) {
    if (waiting) receipts_.Cancel(waiting);
    return appended_or.status();
  }
  std::vector<AppendedMessage>& appended = *appended_or;
  if (waiting) {
    std::vector<std::pair<std::string, MessageId>> targets;
    targets.reserve(appended.size());
    for (const AppendedMessage& message : appended) {
      if (!message.duplicate) targets.emplace_back(message.client_id, message.id);
    }
    receipts_.SetTargets(waiting, targets);
  }

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
  return Publish(std::move(request), PublishWait{});
}

absl::StatusOr<PublishResult> Broker::Publish(PublishRequest request, PublishWait wait) {
  RETURN_IF_ERROR(ValidatePublish(request));
  PublishWait* waiting = nullptr;
  if (wait.want != Receipt::kNone) {
    if (wait.timeout < absl::ZeroDuration() || wait.timeout > options_.max_wait_timeout) {
      return absl::InvalidArgumentError(
          absl::StrCat("wait_timeout must be from 0 to --max_wait_timeout=",
                       absl::FormatDuration(options_.max_wait_timeout)));
    }
    if (wait.timeout == absl::ZeroDuration()) {
      wait.timeout = std::min(options_.default_wait_timeout, options_.max_wait_timeout);
    }
    waiting = &wait;
  }
  absl::StatusOr<PublishResult> result =
      request.idempotency_key.empty()
          ? PublishOnce(request, waiting)
          : idempotency_.RunOnce(request.idempotency_key, clock_->Now(),
                                 [&]() { return PublishOnce(request, waiting); });
  // PublishOnce took the callback (leaving it empty) when it ran; a
  // duplicate did not run it.
  if (result.ok() && waiting != nullptr && wait.done) wait.done(ReceiptCounts{});
  return result;
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
  bool came_online = false;
  const size_t streams = presence_.Opened(client_id, &came_online);
  if (came_online && Wants(EventKind::kOnline)) {
    BrokerEvent online;
    online.streams = static_cast<uint32_t>(streams);
    online.transport = sink->transport();
    Emit(EventKind::kOnline, client_id, std::move(online));
  }
  if (Wants(EventKind::kStreamOpened)) {
    BrokerEvent opened;
    opened.streams = static_cast<uint32_t>(streams);
    opened.transport = sink->transport();
    if (last_event_id.has_value()) opened.message_id = last_event_id->substr(0, 64);
    Emit(EventKind::kStreamOpened, client_id, std::move(opened));
  }
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

void Broker::UnregisterStream(const std::string& client_id, const StreamSink* sink,
                              absl::string_view reason) {
  const absl::Time now = clock_->Now();
  fanout_.Unregister(client_id, sink, now);
  // A stream's end counts as activity: the idle TTL runs from here.
  store_->ReleaseStream(client_id, now);
  const size_t streams = presence_.Closed(client_id, now);
  if (Wants(EventKind::kStreamClosed)) {
    BrokerEvent closed;
    closed.streams = static_cast<uint32_t>(streams);
    closed.transport = sink->transport();
    closed.reason = std::string(reason);
    Emit(EventKind::kStreamClosed, client_id, std::move(closed));
  }
}

std::string Broker::Emit(EventKind kind, const std::string& client_id, BrokerEvent event) {
  event.kind = kind;
  event.client_id = client_id;
  event.at = clock_->Now();
  event.replica = options_.replica;
  // A client's message is always kept: its id is the page's answer.
  // Groups read their share from the relay too, so local groups count.
  if (relay_.publish &&
      (kind == EventKind::kClientMessage || relay_.fleet_wants(kind) || events_.GroupWants(kind))) {
    relay_.publish(event);
  }
  if (kind != EventKind::kClientMessage && !events_.Wants(kind)) return "";
  return events_.Emit(std::move(event));
}

void Broker::ReceiveRemoteEvent(BrokerEvent event) {
  if (event.kind == EventKind::kDelivered || event.kind == EventKind::kAcked) {
    if (std::optional<MessageId> id = MessageId::Parse(event.message_id); id.has_value()) {
      if (event.kind == EventKind::kDelivered) {
        receipts_.Delivered(event.client_id, id->epoch, id->offset, id->offset);
      } else {
        receipts_.Acked(event.client_id, *id);
      }
    }
  }
  if (events_.Wants(event.kind)) events_.Emit(std::move(event));
}

EventKindSet Broker::LocalWants() const {
  EventKindSet wants = events_.wanted();
  if (receipts_.active()) {
    wants.Add(EventKind::kDelivered);
    wants.Add(EventKind::kAcked);
  }
  return wants;
}

void Broker::ReportDelivered(const std::string& client_id, uint64_t epoch, uint64_t first,
                             uint64_t through, const char* transport) {
  if (first == 0 || through < first) return;
  receipts_.Delivered(client_id, epoch, first, through);
  if (!Wants(EventKind::kDelivered)) return;
  for (uint64_t offset = first; offset <= through; ++offset) {
    BrokerEvent delivered;
    delivered.message_id = MessageId{epoch, offset}.ToString();
    delivered.transport = transport;
    Emit(EventKind::kDelivered, client_id, std::move(delivered));
  }
}

absl::StatusOr<size_t> Broker::Acknowledge(const std::string& client_id,
                                           const std::vector<std::string>& ids) {
  RETURN_IF_ERROR(ValidateClientId(client_id, options_.limits));
  if (ids.empty()) return absl::InvalidArgumentError("ids is empty: name the messages received");
  if (ids.size() > options_.max_ack_ids) {
    return absl::InvalidArgumentError(
        absl::StrCat("ids has ", ids.size(), " entries; at most ", options_.max_ack_ids));
  }
  ASSIGN_OR_RETURN(MailboxInfo info, store_->Describe(client_id, clock_->Now()));
  std::vector<MessageId> parsed;
  parsed.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    std::optional<MessageId> id = MessageId::Parse(ids[i]);
    if (!id.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("ids[", i, "] '", ids[i].substr(0, 64),
                                                     "' is not a message id (EPOCH-OFFSET)"));
    }
    if (!info.last_id.has_value() || id->epoch != info.last_id->epoch ||
        id->offset > info.last_id->offset) {
      return absl::InvalidArgumentError(
          absl::StrCat("ids[", i, "] ", ids[i], " was never assigned in this client's mailbox"));
    }
    parsed.push_back(*id);
  }
  MessageId highest = parsed.front();
  for (const MessageId& id : parsed) {
    if (id.offset > highest.offset) highest = id;
    receipts_.Acked(client_id, id);
    if (Wants(EventKind::kAcked)) {
      BrokerEvent acked;
      acked.message_id = id.ToString();
      Emit(EventKind::kAcked, client_id, std::move(acked));
    }
  }
  // The page has them: a connection without an id starts after.
  store_->ConfirmDelivered(client_id, highest);
  return parsed.size();
}

absl::StatusOr<std::string> Broker::ReceiveFromClient(const std::string& client_id,
                                                      const std::string& event,
                                                      const std::string& data) {
  RETURN_IF_ERROR(ValidateClientId(client_id, options_.limits));
  RETURN_IF_ERROR(ValidateEventType(event, options_.limits));
  RETURN_IF_ERROR(ValidateData(data, options_.limits));
  BrokerEvent message;
  message.event = event;
  message.data = data;
  return Emit(EventKind::kClientMessage, client_id, std::move(message));
}

void Broker::TickEvents() {
  const absl::Time now = clock_->Now();
  for (const std::string& client_id : presence_.TakeOffline(now)) {
    if (Wants(EventKind::kOffline)) Emit(EventKind::kOffline, client_id);
  }
  receipts_.Tick(now);
  events_.Tick();
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
