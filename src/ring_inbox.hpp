#pragma once
// detail::ring_inbox: tasks handed to a ring from other threads, and how they wake it.

#include <atomic>
#include <mutex>
#include <vector>

#include <tempfile/task.hpp>
#include <tempfile/unique_fd.hpp>

namespace tempfile::detail {

/// Tasks posted to a ring from any thread. A post wakes the ring wherever it waits: in the
/// kernel (`run`, `sync_wait`: a poll of `wake_fd` is in flight while it blocks) or in an
/// outside event loop (`poll_fd` is signalled).
class ring_inbox {
 public:
  ring_inbox();  // throws std::system_error when the eventfd cannot be made

  /// Any thread.
  void post(task<void> t);
  /// The ring's thread: whether anything was posted since the last `take`.
  bool has_posts() const noexcept { return has_posts_.load(std::memory_order_acquire); }
  /// The ring's thread: everything posted so far, oldest first.
  std::vector<task<void>> take();

  /// Readable once something was posted; `consume_wake` makes it unreadable again.
  int wake_fd() const noexcept { return wake_.get(); }
  void consume_wake() noexcept;
  /// The ring's `poll_fd`, signalled by posts from now on.
  void signal_also(int poll_fd) noexcept { poll_fd_.store(poll_fd, std::memory_order_release); }

 private:
  std::mutex mutex_;
  std::vector<task<void>> posted_;
  std::atomic<bool> has_posts_{false};
  unique_fd wake_;
  std::atomic<int> poll_fd_{-1};
};

}  // namespace tempfile::detail
