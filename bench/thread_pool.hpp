#pragma once
// Threads started once and handed the same job together: the synchronous code's answer to
// concurrency, timed without the cost of starting threads.

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tempfile_bench {

class thread_pool {
 public:
  explicit thread_pool(unsigned threads);
  ~thread_pool();
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  unsigned size() const noexcept { return static_cast<unsigned>(threads_.size()); }
  /// Runs `job(i)` on thread i, for every thread; returns when all have finished and
  /// rethrows the first exception one of them threw.
  void run(const std::function<void(unsigned)>& job);

 private:
  void serve(unsigned index);

  std::mutex mutex_;
  std::condition_variable changed_;
  const std::function<void(unsigned)>* job_ = nullptr;
  std::size_t generation_ = 0;  // bumped for every job handed out
  unsigned running_ = 0;        // threads still on the current job
  std::exception_ptr error_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: they start once the members above exist
};

}  // namespace tempfile_bench
