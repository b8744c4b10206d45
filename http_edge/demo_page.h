// The demo page served at GET /: web/index.html, compiled into the binary at
// build time (cmake/embed_text.cmake), so a container needs no files beside it.
#ifndef PUSH_BROKER_HTTP_EDGE_DEMO_PAGE_H_
#define PUSH_BROKER_HTTP_EDGE_DEMO_PAGE_H_

#include "absl/strings/string_view.h"

namespace pushbroker {

absl::string_view DemoPageHtml();

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_DEMO_PAGE_H_
