// io_ring driven by someone else's event loop: poll() and its readiness descriptor.
#include <tempfile/io_ring.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

#include "ring_inbox.hpp"

namespace tempfile {

int io_ring::poll_fd() {
  refuse_other_threads("io_ring::poll_fd");
  if (!poll_signal_) {
    unique_fd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) throw std::system_error(errno, std::generic_category(), "eventfd");
    // The kernel signals a registered eventfd when it queues a completion's task work, so
    // under DEFER_TASKRUN it fires although no CQE is posted until poll() enters the ring.
    if (int rc = io_uring_register_eventfd(&ring_, fd.get()); rc < 0)
      throw std::system_error(-rc, std::generic_category(), "io_uring_register_eventfd");
    poll_signal_ = std::move(fd);
    inbox_->signal_also(poll_signal_.get());
    // Work queued before the descriptor existed.
    if (!ready_.empty() || in_flight_ != 0 || !backlog_.empty() || inbox_->has_posts())
      signal_poll_fd();
  }
  return poll_signal_.get();
}

void io_ring::signal_poll_fd() noexcept {
  if (!poll_signal_) return;
  const std::uint64_t one = 1;
  // Fails only with EAGAIN on a saturated counter, which is readable anyway.
  (void)!::write(poll_signal_.get(), &one, sizeof one);
}

std::size_t io_ring::poll() {
  const driving_scope driving(*this, "io_ring::poll");

  if (poll_signal_) {  // consumed first: anything arriving from here on signals again
    std::uint64_t count;
    (void)!::read(poll_signal_.get(), &count, sizeof count);
  }
  const auto submit_and_reap = [this] {
    fill_from_backlog();
    if (in_flight_ == 0 && io_uring_sq_ready(&ring_) == 0) return;
    enter(0);  // GETEVENTS too: under DEFER_TASKRUN completions are posted only here
    reap();
  };
  submit_and_reap();
  start_posted();
  std::size_t resumed = 0;
  for (const ready_entry& entry : ready_) resumed += entry.op || entry.coroutine ? 1 : 0;
  run_ready();
  submit_and_reap();  // what the resumed coroutines issued reaches the kernel now
  // Yielded coroutines and completions reaped just now run at the next poll: say so.
  if (!ready_.empty() || inbox_->has_posts()) signal_poll_fd();
  if (spawned_error_) std::rethrow_exception(std::exchange(spawned_error_, nullptr));
  return resumed;
}

}  // namespace tempfile
