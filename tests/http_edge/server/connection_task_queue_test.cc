// ConnectionTaskQueue: threads only as work needs them. A burst of short
// tasks runs on a few threads; tasks that block (long-polls) each get one
// once they have waited, up to the cap; past the cap, tasks wait their turn.
#include "http_edge/server/connection_task_queue.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace pushbroker {
namespace {

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

TEST(ConnectionTaskQueueTest, ABurstOfShortTasksRunsOnAFewThreads) {
  ConnectionTaskQueue queue(ConnectionTaskQueueOptions{/*max_threads=*/512, /*eager_threads=*/4,
                                                       /*grow_after=*/absl::Milliseconds(200)});
  std::atomic<int> done{0};
  size_t most_threads = 0;
  for (int i = 0; i < 5000; ++i) {
    queue.enqueue([&] { ++done; });
    most_threads = std::max(most_threads, queue.threads());
  }
  EXPECT_TRUE(WaitUntil([&] { return done.load() == 5000; }));
  // The eager few, plus at most one per grow_after while the burst lasted.
  EXPECT_LE(most_threads, 16u);
  queue.shutdown();
}

TEST(ConnectionTaskQueueTest, BlockingTasksEachGetAThreadOnceTheyWait) {
  ConnectionTaskQueue queue(ConnectionTaskQueueOptions{/*max_threads=*/64, /*eager_threads=*/2,
                                                       /*grow_after=*/absl::Milliseconds(2)});
  absl::Notification release;
  std::atomic<int> running{0};
  for (int i = 0; i < 20; ++i) {
    queue.enqueue([&] {
      ++running;
      release.WaitForNotification();
    });
  }
  EXPECT_TRUE(WaitUntil([&] { return running.load() == 20; }));
  EXPECT_EQ(queue.threads(), 20u);
  release.Notify();
  queue.shutdown();
}

TEST(ConnectionTaskQueueTest, PastTheCapTasksWaitTheirTurn) {
  ConnectionTaskQueue queue(ConnectionTaskQueueOptions{/*max_threads=*/3, /*eager_threads=*/3,
                                                       /*grow_after=*/absl::Milliseconds(1)});
  absl::Notification release;
  std::atomic<int> running{0};
  std::atomic<int> done{0};
  for (int i = 0; i < 6; ++i) {
    queue.enqueue([&] {
      ++running;
      release.WaitForNotification();
      ++done;
    });
  }
  EXPECT_TRUE(WaitUntil([&] { return running.load() == 3; }));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(running.load(), 3);
  EXPECT_LE(queue.threads(), 3u);
  release.Notify();
  EXPECT_TRUE(WaitUntil([&] { return done.load() == 6; }));
  queue.shutdown();
}

TEST(ConnectionTaskQueueTest, ShutdownRunsWhatIsQueued) {
  std::atomic<int> done{0};
  {
    ConnectionTaskQueue queue(ConnectionTaskQueueOptions{/*max_threads=*/1});
    for (int i = 0; i < 100; ++i) queue.enqueue([&] { ++done; });
  }
  EXPECT_EQ(done.load(), 100);
}

}  // namespace
}  // namespace pushbroker
