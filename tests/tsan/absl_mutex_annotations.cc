// ThreadSanitizer annotations for Debian's Abseil. Its libabsl_synchronization
// is not built with TSan, so TSan cannot see absl::Mutex lock and unlock, and
// would report every ABSL_GUARDED_BY field as a race. The TSan build links
// with -Wl,--wrap for each entry point below (tests/tsan/CMakeLists.txt), so
// our code's calls come here: we tell TSan what the real call does, then
// make it. Calls made inside the library itself are not seen; the code under
// TSan uses absl::Mutex and absl::Notification directly, which is covered.
#include <sanitizer/tsan_interface.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Notification;

void Acquired(Mutex* mu, unsigned flags = 0) { __tsan_mutex_post_lock(mu, flags, 0); }
void Releasing(Mutex* mu, unsigned flags = 0) {
  __tsan_mutex_pre_unlock(mu, flags);
  __tsan_mutex_post_unlock(mu, flags);
}

// A waiter's condition may be evaluated by whichever thread unlocks the
// mutex, inside the library, after that thread's unlock was announced. The
// wrapper orders the evaluation with the mutex's other critical sections.
struct Guarded {
  const Condition* condition;
  Mutex* mu;
  static bool Eval(void* arg) {
    auto* guarded = static_cast<Guarded*>(arg);
    __tsan_acquire(guarded->mu);
    const bool met = guarded->condition->Eval();
    __tsan_release(guarded->mu);
    return met;
  }
};

}  // namespace

// The real functions (resolved by the linker's --wrap) and their wrappers,
// by mangled name.
extern "C" {
void __real__ZN4absl7debian35MutexD1Ev(Mutex*);
void __real__ZN4absl7debian35Mutex4LockEv(Mutex*);
void __real__ZN4absl7debian35Mutex6UnlockEv(Mutex*);
bool __real__ZN4absl7debian35Mutex7TryLockEv(Mutex*);
void __real__ZN4absl7debian35Mutex10ReaderLockEv(Mutex*);
void __real__ZN4absl7debian35Mutex12ReaderUnlockEv(Mutex*);
void __real__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(Mutex*, const Condition&);
bool __real__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    Mutex*, const Condition&, Duration);
void __real__ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(Mutex*, const Condition&);
bool __real__ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    Mutex*, const Condition&, Duration);
void __real__ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(CondVar*, Mutex*);
bool __real__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(CondVar*, Mutex*,
                                                                                 Duration);
void __real__ZN4absl7debian312Notification6NotifyEv(Notification*);
void __real__ZNK4absl7debian312Notification19WaitForNotificationEv(const Notification*);
bool __real__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const Notification*, Duration);

void __wrap__ZN4absl7debian35MutexD1Ev(Mutex* mu) {
  __tsan_mutex_destroy(mu, 0);
  __real__ZN4absl7debian35MutexD1Ev(mu);
}
void __wrap__ZN4absl7debian35Mutex4LockEv(Mutex* mu) {
  __tsan_mutex_pre_lock(mu, 0);
  __real__ZN4absl7debian35Mutex4LockEv(mu);
  Acquired(mu);
}
void __wrap__ZN4absl7debian35Mutex6UnlockEv(Mutex* mu) {
  __tsan_mutex_pre_unlock(mu, 0);
  __real__ZN4absl7debian35Mutex6UnlockEv(mu);
  __tsan_mutex_post_unlock(mu, 0);
}
bool __wrap__ZN4absl7debian35Mutex7TryLockEv(Mutex* mu) {
  __tsan_mutex_pre_lock(mu, __tsan_mutex_try_lock);
  const bool locked = __real__ZN4absl7debian35Mutex7TryLockEv(mu);
  __tsan_mutex_post_lock(mu, __tsan_mutex_try_lock | (locked ? 0 : __tsan_mutex_try_lock_failed),
                         0);
  return locked;
}
void __wrap__ZN4absl7debian35Mutex10ReaderLockEv(Mutex* mu) {
  __tsan_mutex_pre_lock(mu, __tsan_mutex_read_lock);
  __real__ZN4absl7debian35Mutex10ReaderLockEv(mu);
  Acquired(mu, __tsan_mutex_read_lock);
}
void __wrap__ZN4absl7debian35Mutex12ReaderUnlockEv(Mutex* mu) {
  __tsan_mutex_pre_unlock(mu, __tsan_mutex_read_lock);
  __real__ZN4absl7debian35Mutex12ReaderUnlockEv(mu);
  __tsan_mutex_post_unlock(mu, __tsan_mutex_read_lock);
}
// Waiting releases the mutex and takes it again before returning.
void __wrap__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(Mutex* mu, const Condition& condition) {
  Guarded guarded{&condition, mu};
  Releasing(mu);
  __real__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(mu, Condition(&Guarded::Eval, &guarded));
  __tsan_mutex_pre_lock(mu, 0);
  Acquired(mu);
}
bool __wrap__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    Mutex* mu, const Condition& condition, Duration timeout) {
  Guarded guarded{&condition, mu};
  Releasing(mu);
  const bool met = __real__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
      mu, Condition(&Guarded::Eval, &guarded), timeout);
  __tsan_mutex_pre_lock(mu, 0);
  Acquired(mu);
  return met;
}
void __wrap__ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(Mutex* mu,
                                                              const Condition& condition) {
  Guarded guarded{&condition, mu};
  __tsan_mutex_pre_lock(mu, 0);
  __real__ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(mu, Condition(&Guarded::Eval, &guarded));
  Acquired(mu);
}
bool __wrap__ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    Mutex* mu, const Condition& condition, Duration timeout) {
  Guarded guarded{&condition, mu};
  __tsan_mutex_pre_lock(mu, 0);
  const bool met =
      __real__ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(
          mu, Condition(&Guarded::Eval, &guarded), timeout);
  Acquired(mu);
  return met;
}
void __wrap__ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(CondVar* cv, Mutex* mu) {
  Releasing(mu);
  __real__ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(cv, mu);
  __tsan_mutex_pre_lock(mu, 0);
  Acquired(mu);
}
bool __wrap__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(CondVar* cv,
                                                                                 Mutex* mu,
                                                                                 Duration timeout) {
  Releasing(mu);
  const bool timed_out =
      __real__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(cv, mu, timeout);
  __tsan_mutex_pre_lock(mu, 0);
  Acquired(mu);
  return timed_out;
}
// A notification orders what came before Notify() before what follows a wait.
void __wrap__ZN4absl7debian312Notification6NotifyEv(Notification* n) {
  __tsan_release(n);
  __real__ZN4absl7debian312Notification6NotifyEv(n);
}
void __wrap__ZNK4absl7debian312Notification19WaitForNotificationEv(const Notification* n) {
  __real__ZNK4absl7debian312Notification19WaitForNotificationEv(n);
  __tsan_acquire(const_cast<Notification*>(n));
}
bool __wrap__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const Notification* n, Duration timeout) {
  const bool notified =
      __real__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
          n, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(n));
  return notified;
}
}  // extern "C"
