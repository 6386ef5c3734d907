#pragma once
// An io_ring on a thread of its own. io-wq (and with it `max_workers` and `pin_workers`)
// belongs to the thread that submits, shared by all of that thread's rings: rings with
// different worker settings compared from one thread would all run with the last settings
// applied. Each configuration under comparison therefore gets its own thread.

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include <tempfile/io_ring.hpp>

namespace tempfile_bench {

class ring_thread {
 public:
  explicit ring_thread(tempfile::ring_options options);
  ~ring_thread();
  ring_thread(const ring_thread&) = delete;
  ring_thread& operator=(const ring_thread&) = delete;

  /// Runs `job` with the ring on the ring's thread; returns when it has finished and
  /// rethrows what it threw.
  void run(const std::function<void(tempfile::io_ring&)>& job);

 private:
  void serve(tempfile::ring_options options);

  std::mutex mutex_;
  std::condition_variable changed_;
  const std::function<void(tempfile::io_ring&)>* job_ = nullptr;  // pending while set
  std::exception_ptr error_;  // from the ring's construction or the last job
  bool ready_ = false;        // the ring exists (or failed: error_)
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace tempfile_bench
