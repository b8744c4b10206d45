#include "tools/pushctl/watch.h"

#include <iostream>
#include <thread>

#include "absl/synchronization/notification.h"
#include "google/protobuf/util/json_util.h"

namespace pushbroker {

int WatchEvents(v1::Broker::Stub& stub, const WatchCommandOptions& options,
                const std::function<void(grpc::ClientContext&)>& prepare) {
  grpc::ClientContext context;
  prepare(context);
  auto stream = stub.Watch(&context);
  v1::WatchRequest open;
  for (const std::string& kind : options.kinds) open.add_kinds(kind);
  open.set_group(options.group);
  open.set_after_id(options.after_id);
  open.set_client_id(options.client_id);
  stream->Write(open);

  // The duration ends the call from another thread.
  absl::Notification done;
  std::thread timer([&] {
    if (!done.WaitForNotificationWithTimeout(options.duration)) context.TryCancel();
  });
  google::protobuf::util::JsonPrintOptions json_options;
  json_options.preserve_proto_field_names = true;
  size_t printed = 0;
  bool counted_out = false;
  v1::BrokerEvent event;
  while (stream->Read(&event)) {
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(event, &json, json_options);
    std::cout << json << std::endl;
    // Printed is handled: a member confirms, so the group does not resend it.
    if (!options.group.empty()) {
      v1::WatchRequest confirm;
      confirm.add_confirm_ids(event.id());
      stream->Write(confirm);
    }
    if (options.count > 0 && ++printed >= options.count) {
      counted_out = true;
      break;
    }
  }
  if (counted_out) stream->WritesDone();
  done.Notify();
  timer.join();
  grpc::Status status = stream->Finish();
  // CANCELLED: the duration ran out (or the count ended it first).
  if (status.ok() || counted_out || status.error_code() == grpc::StatusCode::CANCELLED) return 0;
  std::cerr << "pushctl: " << status.error_code() << " " << status.error_message() << "\n";
  return 1;
}

}  // namespace pushbroker
