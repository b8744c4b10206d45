// pushctl: a command-line client for push-broker.
//
//   pushctl [--target=localhost:50051] publish (--client_id=ID | --clients=A,B |
//           --topic=T | --broadcast) [--event=E] [--ttl=30s] [--idempotency_key=K]
//           [--return_ids] DATA|-
//   pushctl publish --json '{"client_id":"alice","data":"hi"}'|-   (a PublishRequest in JSON)
//   pushctl publish-stream [target flags | --json] [--batch_size=100]
//           (one message per stdin line, sent in PublishBatch calls)
//   pushctl subscribe CLIENT TOPIC        pushctl unsubscribe CLIENT TOPIC
//   pushctl get CLIENT                    pushctl history CLIENT [--after=ID] [--limit=N]
//   pushctl disconnect CLIENT [--retry_ms=N]
//   pushctl delete CLIENT
//   pushctl tail CLIENT [--http=http://localhost:8080] [--after=ID] [--count=N] [--duration=D]
//   pushctl watch [--kinds=online,delivered,...] [--group=G] [--after=ID] [--watch_client=ID]
//           [--count=N] [--duration=D]              (one JSON line per event)
//   pushctl publish ... --wait_for=delivered|acked [--wait_timeout=5s]
//
// Responses print as JSON; errors print the gRPC status and exit 1.
#include <algorithm>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "pushbroker/v1/broker.grpc.pb.h"
#include "tools/flags_usage.h"
#include "tools/pushctl/tail.h"
#include "tools/pushctl/watch.h"

ABSL_FLAG(std::string, target, "localhost:50051", "The broker's gRPC address, host:port.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline of each call.");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA bundle to verify the broker with; turns TLS on.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate, for brokers that require mutual TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name to verify the broker's certificate against (default: the target host).");
ABSL_FLAG(
    std::string, api_key, "",
    "Publisher API key for brokers started with --api_keys_file (default: $PUSHCTL_API_KEY).");
ABSL_FLAG(std::string, client_id, "", "publish: to this client.");
ABSL_FLAG(std::string, clients, "", "publish: to these comma-separated clients.");
ABSL_FLAG(std::string, topic, "", "publish: to every member of this topic.");
ABSL_FLAG(bool, broadcast, false, "publish: to every mailbox.");
ABSL_FLAG(std::string, event, "", "publish: SSE event type.");
ABSL_FLAG(absl::Duration, ttl, absl::ZeroDuration(), "publish: message TTL (0: the broker's).");
ABSL_FLAG(std::string, idempotency_key, "", "publish: retries with this key append nothing.");
ABSL_FLAG(bool, return_ids, false, "publish: list each recipient's id.");
ABSL_FLAG(std::string, wait_for, "none",
          "publish: answer once the message was delivered (delivered) or acknowledged (acked) "
          "by every recipient, or wait_timeout passed.");
ABSL_FLAG(absl::Duration, wait_timeout, absl::ZeroDuration(),
          "publish: the longest wait with --wait_for (0: the broker's default, 5 s).");
ABSL_FLAG(std::string, kinds, "", "watch: comma-separated event kinds (empty: all).");
ABSL_FLAG(std::string, group, "",
          "watch: share events with the other watchers of this group (each confirmed once "
          "printed).");
ABSL_FLAG(std::string, watch_client, "", "watch: only this client's events.");
ABSL_FLAG(std::string, after, "", "history, tail: messages after this id; watch: events after it.");
ABSL_FLAG(uint32_t, limit, 0, "history: at most this many (0: the broker's default).");
ABSL_FLAG(uint32_t, retry_ms, 0, "disconnect: reconnect delay to advise (0: the broker's).");
ABSL_FLAG(bool, json, false, "publish, publish-stream: the input is a PublishRequest in JSON.");
ABSL_FLAG(uint32_t, batch_size, 100,
          "publish-stream: most lines in one PublishBatch call (at most the broker's "
          "--max_batch_size).");
ABSL_FLAG(std::string, http, "http://localhost:8080", "tail: the broker's HTTP edge.");
ABSL_FLAG(uint32_t, count, 0, "tail, watch: stop after this many events (0: never).");
ABSL_FLAG(absl::Duration, duration, absl::ZeroDuration(),
          "tail, watch: stop after this long (0: never).");

namespace {

using pushbroker::v1::Broker;

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Plaintext, or TLS (and a client certificate) when --tls_ca is given.
std::shared_ptr<grpc::Channel> OpenChannel() {
  const std::string target = absl::GetFlag(FLAGS_target);
  if (absl::GetFlag(FLAGS_tls_ca).empty()) {
    return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFile(absl::GetFlag(FLAGS_tls_ca));
  if (!absl::GetFlag(FLAGS_tls_cert).empty()) {
    tls.pem_cert_chain = ReadFile(absl::GetFlag(FLAGS_tls_cert));
    tls.pem_private_key = ReadFile(absl::GetFlag(FLAGS_tls_key));
  }
  grpc::ChannelArguments arguments;
  if (!absl::GetFlag(FLAGS_tls_server_name).empty()) {
    arguments.SetSslTargetNameOverride(absl::GetFlag(FLAGS_tls_server_name));
  }
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(tls), arguments);
}

int Fail(const std::string& message) {
  std::cerr << "pushctl: " << message << "\n";
  return 2;
}

int Print(const grpc::Status& status, const google::protobuf::Message& response) {
  if (!status.ok()) {
    std::cerr << "pushctl: " << status.error_code() << " " << status.error_message() << "\n";
    return 1;
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(response, &json, options);
  std::cout << json;
  return 0;
}

// The API key, when one is given.
void AddApiKey(grpc::ClientContext& context) {
  std::string key = absl::GetFlag(FLAGS_api_key);
  if (key.empty() && std::getenv("PUSHCTL_API_KEY") != nullptr)
    key = std::getenv("PUSHCTL_API_KEY");
  if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
}

// Every call carries the deadline (plus `extra`, a wait the call asks
// for) and, when one is given, the API key.
void SetDeadline(grpc::ClientContext& context, absl::Duration extra = absl::ZeroDuration()) {
  context.set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_timeout) + extra)));
  AddApiKey(context);
}

// A PublishRequest from the target flags and `data`, or from JSON when --json
// is set. Returns false with `error` set when the flags do not add up.
bool BuildRequest(const std::string& data, pushbroker::v1::PublishRequest& request,
                  std::string& error) {
  if (absl::GetFlag(FLAGS_json)) {
    auto status = google::protobuf::util::JsonStringToMessage(data, &request);
    if (!status.ok()) error = "not a PublishRequest in JSON: " + status.ToString();
    return status.ok();
  }
  int targets = 0;
  if (!absl::GetFlag(FLAGS_client_id).empty()) {
    request.set_client_id(absl::GetFlag(FLAGS_client_id));
    ++targets;
  }
  if (!absl::GetFlag(FLAGS_clients).empty()) {
    for (absl::string_view id :
         absl::StrSplit(absl::GetFlag(FLAGS_clients), ',', absl::SkipEmpty())) {
      request.mutable_clients()->add_ids(std::string(id));
    }
    ++targets;
  }
  if (!absl::GetFlag(FLAGS_topic).empty()) {
    request.set_topic(absl::GetFlag(FLAGS_topic));
    ++targets;
  }
  if (absl::GetFlag(FLAGS_broadcast)) {
    request.set_broadcast(true);
    ++targets;
  }
  if (targets != 1) {
    error = "publish needs exactly one of --client_id, --clients, --topic, --broadcast (or --json)";
    return false;
  }
  request.set_data(data);
  request.set_event(absl::GetFlag(FLAGS_event));
  request.set_idempotency_key(absl::GetFlag(FLAGS_idempotency_key));
  request.set_return_ids(absl::GetFlag(FLAGS_return_ids));
  const std::string wait_for = absl::GetFlag(FLAGS_wait_for);
  if (wait_for == "delivered") {
    request.set_wait_for(pushbroker::v1::RECEIPT_DELIVERED);
  } else if (wait_for == "acked") {
    request.set_wait_for(pushbroker::v1::RECEIPT_ACKED);
  } else if (wait_for != "none" && !wait_for.empty()) {
    error = "--wait_for must be none, delivered or acked";
    return false;
  }
  const absl::Duration wait_timeout = absl::GetFlag(FLAGS_wait_timeout);
  if (wait_timeout > absl::ZeroDuration()) {
    request.mutable_wait_timeout()->set_seconds(absl::ToInt64Seconds(wait_timeout));
    request.mutable_wait_timeout()->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(
        wait_timeout - absl::Seconds(absl::ToInt64Seconds(wait_timeout)))));
  }
  const absl::Duration ttl = absl::GetFlag(FLAGS_ttl);
  if (ttl > absl::ZeroDuration()) {
    request.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
    request.mutable_ttl()->set_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(ttl - absl::Seconds(absl::ToInt64Seconds(ttl)))));
  }
  return true;
}

int Publish(Broker::Stub& stub, const std::vector<std::string>& args) {
  if (args.size() != 1) return Fail("publish takes one DATA argument (or - for stdin)");
  pushbroker::v1::PublishRequest request;
  std::string error;
  const std::string input =
      args[0] == "-" ? std::string(std::istreambuf_iterator<char>(std::cin), {}) : args[0];
  if (!BuildRequest(input, request, error)) return Fail(error);
  grpc::ClientContext context;
  // A wait adds its own time to the deadline (the broker's default is 5 s).
  const absl::Duration wait = request.wait_for() == pushbroker::v1::RECEIPT_NONE
                                  ? absl::ZeroDuration()
                                  : absl::Seconds(request.wait_timeout().seconds()) +
                                        absl::Nanoseconds(request.wait_timeout().nanos()) +
                                        absl::Seconds(5);
  SetDeadline(context, wait);
  pushbroker::v1::PublishResponse response;
  return Print(stub.Publish(&context, request, &response), response);
}

// One publish per stdin line, sent in PublishBatch calls of up to
// --batch_size lines: this thread reads, a sender thread takes whatever
// lines are waiting when its previous call returns, so a fast producer's
// lines travel in full batches and a slow one's go at once. A JSON line per
// result, in order: the PublishResponse, or {"error": {...}} for a line the
// broker refused (the others still go).
int PublishStream(Broker::Stub& stub) {
  const size_t batch_size = std::max<uint32_t>(1, absl::GetFlag(FLAGS_batch_size));
  absl::Mutex mu;
  std::deque<pushbroker::v1::PublishRequest> waiting;  // guarded by mu
  bool input_done = false;                             // guarded by mu
  bool call_failed = false;                            // guarded by mu
  size_t published = 0, refused = 0;                   // the sender's
  std::thread sender([&] {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    while (true) {
      pushbroker::v1::PublishBatchRequest batch;
      {
        absl::MutexLock lock(&mu);
        auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
          return !waiting.empty() || input_done;
        };
        mu.Await(absl::Condition(&ready));
        if (waiting.empty()) return;
        while (!waiting.empty() && static_cast<size_t>(batch.requests_size()) < batch_size) {
          *batch.add_requests() = std::move(waiting.front());
          waiting.pop_front();
        }
      }
      grpc::ClientContext context;
      SetDeadline(context);
      pushbroker::v1::PublishBatchResponse response;
      const grpc::Status status = stub.PublishBatch(&context, batch, &response);
      if (!status.ok()) {
        std::cerr << "pushctl: " << status.error_code() << " " << status.error_message() << "\n";
        absl::MutexLock lock(&mu);
        call_failed = true;
        return;
      }
      for (const pushbroker::v1::PublishResult& result : response.results()) {
        std::string json;
        if (result.has_response()) {
          ++published;
          (void)google::protobuf::util::MessageToJsonString(result.response(), &json, options);
        } else {
          ++refused;
          (void)google::protobuf::util::MessageToJsonString(result, &json, options);
        }
        std::cout << json << "\n";
      }
      std::cout.flush();
    }
  });
  size_t line_number = 0;
  std::string line, error;
  while (std::getline(std::cin, line)) {
    pushbroker::v1::PublishRequest request;
    if (!BuildRequest(line, request, error)) {
      std::cerr << "pushctl: line " << line_number + 1 << ": " << error << "\n";
      break;
    }
    ++line_number;
    absl::MutexLock lock(&mu);
    // A bounded backlog: the reading waits for the broker.
    auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return call_failed || waiting.size() < 4 * batch_size;
    };
    mu.Await(absl::Condition(&room));
    if (call_failed) break;
    waiting.push_back(std::move(request));
  }
  {
    absl::MutexLock lock(&mu);
    input_done = true;
  }
  sender.join();
  std::cerr << "pushctl: " << published << " of " << line_number << " published";
  if (refused > 0) std::cerr << ", " << refused << " refused";
  std::cerr << "\n";
  if (call_failed || refused > 0) return 1;
  return error.empty() ? 0 : 2;
}

template <typename Request, typename Response, typename Call>
int Simple(Request request, Call call) {
  grpc::ClientContext context;
  SetDeadline(context);
  Response response;
  return Print(call(&context, request, &response), response);
}

// --help lists this tool's own flags.
void SetUpUsage() {
  pushbroker::SetUsage(
      "the push-broker command line. Responses print as JSON; errors print the gRPC status "
      "and exit 1.\n"
      "Usage: pushctl [--target=localhost:50051] COMMAND ...\n"
      "  publish (--client_id=ID | --clients=A,B | --topic=T | --broadcast) [--event=E] "
      "[--ttl=30s]\n"
      "          [--idempotency_key=K] [--return_ids] DATA|-\n"
      "  publish --json '{\"client_id\":\"alice\",\"data\":\"hi\"}'|-\n"
      "  publish-stream [target flags | --json] [--batch_size=100]   one message per stdin "
      "line, in batches\n"
      "  subscribe CLIENT TOPIC | unsubscribe CLIENT TOPIC\n"
      "  get CLIENT | history CLIENT [--after=ID] [--limit=N]\n"
      "  disconnect CLIENT [--retry_ms=N] | delete CLIENT\n"
      "  tail CLIENT [--http=http://localhost:8080] [--after=ID] [--count=N] [--duration=D]\n"
      "  watch [--kinds=online,offline,...] [--group=G] [--after=ID] [--watch_client=ID] "
      "[--count=N] [--duration=D]\n"
      "  publish ... --wait_for=delivered|acked [--wait_timeout=5s]   prints delivered/acked",
      "tools/pushctl/");
}

// The commands that name a client and a topic.
int RunTopicCommand(Broker::Stub& stub, const std::string& command,
                    const std::vector<std::string>& args) {
  using namespace pushbroker::v1;
  if (args.size() != 2) return Fail(command + " takes CLIENT TOPIC");
  if (command == "subscribe") {
    SubscribeRequest request;
    request.set_client_id(args[0]);
    request.set_topic(args[1]);
    return Simple<SubscribeRequest, SubscribeResponse>(
        request, [&](auto* c, auto& r, auto* out) { return stub.Subscribe(c, r, out); });
  }
  UnsubscribeRequest request;
  request.set_client_id(args[0]);
  request.set_topic(args[1]);
  return Simple<UnsubscribeRequest, UnsubscribeResponse>(
      request, [&](auto* c, auto& r, auto* out) { return stub.Unsubscribe(c, r, out); });
}

// The commands that name one client.
int RunClientCommand(Broker::Stub& stub, const std::string& command,
                     const std::vector<std::string>& args) {
  using namespace pushbroker::v1;
  if (args.size() != 1) return Fail(command + " takes CLIENT");
  if (command == "get") {
    GetClientRequest request;
    request.set_client_id(args[0]);
    return Simple<GetClientRequest, ClientInfo>(
        request, [&](auto* c, auto& r, auto* out) { return stub.GetClient(c, r, out); });
  }
  if (command == "history") {
    HistoryRequest request;
    request.set_client_id(args[0]);
    request.set_after_id(absl::GetFlag(FLAGS_after));
    request.set_limit(absl::GetFlag(FLAGS_limit));
    return Simple<HistoryRequest, HistoryResponse>(
        request, [&](auto* c, auto& r, auto* out) { return stub.History(c, r, out); });
  }
  if (command == "disconnect") {
    DisconnectRequest request;
    request.set_client_id(args[0]);
    request.set_retry_ms(absl::GetFlag(FLAGS_retry_ms));
    return Simple<DisconnectRequest, DisconnectResponse>(
        request, [&](auto* c, auto& r, auto* out) { return stub.Disconnect(c, r, out); });
  }
  if (command == "delete") {
    DeleteClientRequest request;
    request.set_client_id(args[0]);
    return Simple<DeleteClientRequest, DeleteClientResponse>(
        request, [&](auto* c, auto& r, auto* out) { return stub.DeleteClient(c, r, out); });
  }
  return Fail("unknown command '" + command + "'; see --help");
}

int RunTail(const std::vector<std::string>& args) {
  if (args.size() != 1) return Fail("tail takes CLIENT");
  pushbroker::TailOptions tail;
  tail.http_base = absl::GetFlag(FLAGS_http);
  tail.client_id = args[0];
  tail.last_event_id = absl::GetFlag(FLAGS_after);
  tail.count = absl::GetFlag(FLAGS_count);
  if (absl::GetFlag(FLAGS_duration) > absl::ZeroDuration()) {
    tail.timeout = absl::GetFlag(FLAGS_duration);
  }
  return pushbroker::Tail(tail);
}

int RunWatch(Broker::Stub& stub, const std::vector<std::string>& args) {
  if (!args.empty()) return Fail("watch takes no arguments; see --help");
  pushbroker::WatchCommandOptions options;
  for (absl::string_view kind :
       absl::StrSplit(absl::GetFlag(FLAGS_kinds), ',', absl::SkipEmpty())) {
    options.kinds.emplace_back(kind);
  }
  options.group = absl::GetFlag(FLAGS_group);
  options.after_id = absl::GetFlag(FLAGS_after);
  options.client_id = absl::GetFlag(FLAGS_watch_client);
  options.count = absl::GetFlag(FLAGS_count);
  if (absl::GetFlag(FLAGS_duration) > absl::ZeroDuration()) {
    options.duration = absl::GetFlag(FLAGS_duration);
  }
  return pushbroker::WatchEvents(stub, options, AddApiKey);
}

}  // namespace

int main(int argc, char** argv) {
  SetUpUsage();
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) return Fail("no command; see --help");
  const std::string command = positional[1];
  const std::vector<std::string> args(positional.begin() + 2, positional.end());
  auto stub = Broker::NewStub(OpenChannel());
  if (command == "tail") return RunTail(args);
  if (command == "watch") return RunWatch(*stub, args);
  if (command == "publish") return Publish(*stub, args);
  if (command == "publish-stream") return PublishStream(*stub);
  if (command == "subscribe" || command == "unsubscribe") {
    return RunTopicCommand(*stub, command, args);
  }
  return RunClientCommand(*stub, command, args);
}
