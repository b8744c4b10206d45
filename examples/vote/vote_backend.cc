// vote-backend: the vote demo's server side on push-broker. Pages send votes
// up (POST /v1/messages, event "vote"); this backend hears them through a
// Watch shared by its group, counts each once, and publishes the tally to
// every page on the topic. A page coming online is put on the topic and
// sent the tally. The tally lives in a broker mailbox (a member of the
// topic), so a restarted backend continues where it stopped: votes that
// arrived meanwhile wait in the group, and an event redelivered after the
// restart is recognised by its id.
//
//   vote-backend [--target=localhost:50051] [--choices=red,green,blue]
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/vote/tally.h"
#include "grpcpp/grpcpp.h"
#include "pushbroker/v1/broker.grpc.pb.h"

ABSL_FLAG(std::string, target, "localhost:50051", "The broker's gRPC address.");
ABSL_FLAG(std::string, api_key, "", "Publisher API key, when the broker requires one.");
ABSL_FLAG(std::string, choices, "red,green,blue", "What pages may vote for.");
ABSL_FLAG(std::string, topic, "vote", "The topic every voting page is on.");
ABSL_FLAG(std::string, group, "vote-backend", "The Watch group this backend's replicas share.");
ABSL_FLAG(std::string, state_client, "vote-tally",
          "The mailbox the tally is kept in (a member of the topic).");

namespace vote {
namespace v1 = pushbroker::v1;

class Backend {
 public:
  Backend(std::shared_ptr<grpc::Channel> channel, std::vector<std::string> choices)
      : stub_(v1::Broker::NewStub(std::move(channel))), tally_(choices) {}

  // Restores the tally from its mailbox and puts that mailbox on the topic.
  grpc::Status Start() {
    v1::SubscribeRequest subscribe;
    subscribe.set_client_id(absl::GetFlag(FLAGS_state_client));
    subscribe.set_topic(absl::GetFlag(FLAGS_topic));
    v1::SubscribeResponse subscribed;
    grpc::Status status =
        Call([&](grpc::ClientContext* c) { return stub_->Subscribe(c, subscribe, &subscribed); });
    if (!status.ok()) return status;
    std::string after;
    std::string last_tally;
    while (true) {  // to the end of the mailbox, page by page
      v1::HistoryRequest request;
      request.set_client_id(absl::GetFlag(FLAGS_state_client));
      request.set_after_id(after);
      v1::HistoryResponse page;
      status = Call([&](grpc::ClientContext* c) { return stub_->History(c, request, &page); });
      if (!status.ok()) return status;
      for (const auto& message : page.messages()) {
        if (message.event() == "tally") last_tally = message.data();
        after = message.id();
      }
      if (!page.more() || page.messages().empty()) break;
    }
    if (!last_tally.empty() && tally_.Restore(last_tally)) {
      std::cout << "restored " << tally_.ToJson() << std::endl;
    }
    PublishTally(/*client_id=*/"", /*idempotency_key=*/"");
    return grpc::Status::OK;
  }

  // Watches until the broker goes away; the caller watches again.
  void WatchOnce() {
    grpc::ClientContext context;
    AddKey(&context);
    auto stream = stub_->Watch(&context);
    v1::WatchRequest open;
    open.add_kinds("online");
    open.add_kinds("client_message");
    open.set_group(absl::GetFlag(FLAGS_group));
    if (!stream->Write(open)) return;
    std::cout << "watching as a member of group " << open.group() << std::endl;
    v1::BrokerEvent event;
    while (stream->Read(&event)) {
      Handle(event);
      // Handled (its tally is published): the group need not send it again.
      v1::WatchRequest confirm;
      confirm.add_confirm_ids(event.id());
      if (!stream->Write(confirm)) break;
    }
    grpc::Status status = stream->Finish();
    std::cout << "watch ended: " << status.error_code() << " " << status.error_message()
              << std::endl;
  }

 private:
  template <typename Fn>
  grpc::Status Call(Fn fn) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    AddKey(&context);
    return fn(&context);
  }
  static void AddKey(grpc::ClientContext* context) {
    if (!absl::GetFlag(FLAGS_api_key).empty()) {
      context->AddMetadata("authorization", "Bearer " + absl::GetFlag(FLAGS_api_key));
    }
  }

  void Handle(const v1::BrokerEvent& event) {
    if (event.kind() == "online" && event.client_id() != absl::GetFlag(FLAGS_state_client)) {
      v1::SubscribeRequest subscribe;
      subscribe.set_client_id(event.client_id());
      subscribe.set_topic(absl::GetFlag(FLAGS_topic));
      v1::SubscribeResponse subscribed;
      Retry([&](grpc::ClientContext* c) { return stub_->Subscribe(c, subscribe, &subscribed); });
      PublishTally(event.client_id(), "");
      return;
    }
    if (event.kind() != "client_message" || event.event() != "vote") return;
    if (!tally_.Count(event.id(), event.data())) return;  // unknown choice, or counted already
    std::cout << event.client_id() << " voted " << event.data() << ": " << tally_.ToJson()
              << std::endl;
    // The event id as idempotency key: a retry after "outcome unknown"
    // publishes this tally once.
    PublishTally("", event.id());
  }

  // To one client, or to the whole topic (and so to the state mailbox).
  void PublishTally(const std::string& client_id, const std::string& idempotency_key) {
    v1::PublishRequest request;
    if (client_id.empty()) {
      request.set_topic(absl::GetFlag(FLAGS_topic));
    } else {
      request.set_client_id(client_id);
    }
    request.set_event("tally");
    request.set_data(tally_.ToJson());
    request.set_idempotency_key(idempotency_key);
    v1::PublishResponse response;
    Retry([&](grpc::ClientContext* c) { return stub_->Publish(c, request, &response); });
  }

  // Until it succeeds: the tally must reach the state mailbox before the
  // event that changed it is confirmed. Bad requests are not retried.
  template <typename Fn>
  void Retry(Fn fn) {
    for (int attempt = 0;; ++attempt) {
      grpc::Status status = Call(fn);
      if (status.ok() || status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) return;
      std::cerr << "retrying after " << status.error_message() << std::endl;
      absl::SleepFor(absl::Milliseconds(std::min(2000, 100 << std::min(attempt, 5))));
    }
  }

  std::unique_ptr<v1::Broker::Stub> stub_;
  Tally tally_;
};

}  // namespace vote

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::vector<std::string> choices =
      absl::StrSplit(absl::GetFlag(FLAGS_choices), ',', absl::SkipEmpty());
  vote::Backend backend(
      grpc::CreateChannel(absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()),
      choices);
  while (true) {
    grpc::Status started = backend.Start();
    if (started.ok()) break;
    std::cerr << "waiting for the broker: " << started.error_message() << std::endl;
    absl::SleepFor(absl::Seconds(1));
  }
  while (true) {
    backend.WatchOnce();
    absl::SleepFor(absl::Seconds(1));
  }
}
