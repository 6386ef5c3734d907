#include "ring_thread.hpp"

#include <optional>
#include <utility>

namespace tempfile_bench {

ring_thread::ring_thread(tempfile::ring_options options)
    : thread_([this, options] { serve(options); }) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return ready_; });
  if (error_) {
    lock.unlock();
    thread_.join();
    std::rethrow_exception(error_);
  }
}

ring_thread::~ring_thread() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ring_thread::run(const std::function<void(tempfile::io_ring&)>& job) {
  std::unique_lock lock(mutex_);
  job_ = &job;
  changed_.notify_all();
  changed_.wait(lock, [this] { return job_ == nullptr; });
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void ring_thread::serve(tempfile::ring_options options) {
  std::optional<tempfile::io_ring> ring;
  std::unique_lock lock(mutex_);
  try {
    ring.emplace(options);
  } catch (...) {
    error_ = std::current_exception();
  }
  ready_ = true;
  changed_.notify_all();
  if (!ring) return;
  for (;;) {
    changed_.wait(lock, [this] { return job_ != nullptr || stopping_; });
    if (stopping_) return;
    lock.unlock();
    try {
      (*job_)(*ring);
    } catch (...) {
      error_ = std::current_exception();  // read by run() only after job_ is cleared
    }
    lock.lock();
    job_ = nullptr;
    changed_.notify_all();
  }
}

}  // namespace tempfile_bench
