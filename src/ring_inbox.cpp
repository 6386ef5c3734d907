#include "ring_inbox.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>
#include <utility>

namespace tempfile::detail {
namespace {

void signal(int eventfd) noexcept {
  const std::uint64_t one = 1;
  // Fails only with EAGAIN on a saturated counter, which is readable anyway.
  (void)!::write(eventfd, &one, sizeof one);
}

}  // namespace

ring_inbox::ring_inbox() : wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!wake_) throw std::system_error(errno, std::generic_category(), "eventfd");
}

void ring_inbox::post(task<void> t) {
  {
    const std::lock_guard lock(mutex_);
    posted_.push_back(std::move(t));
    has_posts_.store(true, std::memory_order_release);
  }
  // After the push: a ring that consumed the wake-up before it will take the task anyway.
  signal(wake_.get());
  if (const int poll_fd = poll_fd_.load(std::memory_order_acquire); poll_fd >= 0) signal(poll_fd);
}

std::vector<task<void>> ring_inbox::take() {
  std::vector<task<void>> taken;
  const std::lock_guard lock(mutex_);
  taken.swap(posted_);
  has_posts_.store(false, std::memory_order_relaxed);
  return taken;
}

void ring_inbox::consume_wake() noexcept {
  std::uint64_t count;
  (void)!::read(wake_.get(), &count, sizeof count);
}

}  // namespace tempfile::detail
