// Status propagation helpers. Debian's Abseil (20220623) ships none, so these
// two macros are the project's own; keep this header this small.
#ifndef PUSH_BROKER_BROKER_STATUS_MACROS_H_
#define PUSH_BROKER_BROKER_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PB_CONCAT_INNER_(a, b) a##b
#define PB_CONCAT_(a, b) PB_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                 \
  do {                                        \
    const ::absl::Status pb_status_ = (expr); \
    if (!pb_status_.ok()) return pb_status_;  \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, StatusOrExpr())` binds the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(PB_CONCAT_(pb_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                           \
  if (!statusor.ok()) return statusor.status();     \
  lhs = std::move(statusor).value()

#endif  // PUSH_BROKER_BROKER_STATUS_MACROS_H_
