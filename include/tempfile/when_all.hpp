#pragma once
/// \file
/// `when_all`: run tasks concurrently, wait for every one of them.

#include <coroutine>
#include <cstddef>
#include <exception>
#include <utility>
#include <vector>

#include <tempfile/task.hpp>

namespace tempfile {
namespace detail {

/// Counts unfinished tasks; the last one to finish resumes the awaiting coroutine. Tasks
/// report to it directly (no wrapper coroutine per task).
class when_all_latch final : public completion_listener {
 public:
  explicit when_all_latch(std::size_t tasks) noexcept : remaining_(tasks + 1) {}

  std::coroutine_handle<> task_finished(const std::exception_ptr& error) noexcept override {
    if (error && !first_error_) first_error_ = error;
    return --remaining_ == 0 ? parent_ : std::noop_coroutine();
  }

  void rethrow_if_failed() const {
    if (first_error_) std::rethrow_exception(first_error_);
  }

  /// Starts every task; suspends the caller until all have finished.
  template <class T>
  auto start(std::vector<task<T>>& tasks) noexcept {
    struct awaiter {
      when_all_latch& latch;
      std::vector<task<T>>& tasks;
      bool await_ready() const noexcept { return tasks.empty(); }
      bool await_suspend(std::coroutine_handle<> parent) {
        latch.parent_ = parent;
        for (auto& t : tasks) task_access::start_listened(t, latch);
        // Drop the count held while starting; suspend unless every task already finished.
        return --latch.remaining_ != 0;
      }
      void await_resume() const noexcept {}
    };
    return awaiter{*this, tasks};
  }

 private:
  std::size_t remaining_;
  std::coroutine_handle<> parent_;
  std::exception_ptr first_error_;
};

}  // namespace detail

/// Runs every task concurrently and returns their results in the input order. If any
/// throws, the others still run to completion, then the first exception (in time) is
/// rethrown.
template <class T>
task<std::vector<T>> when_all(std::vector<task<T>> tasks) {
  detail::when_all_latch latch(tasks.size());
  co_await latch.start(tasks);
  latch.rethrow_if_failed();
  std::vector<T> results;
  results.reserve(tasks.size());
  for (auto& t : tasks) results.push_back(detail::task_access::take(t));
  co_return results;
}

/// `when_all` for tasks without a value.
inline task<void> when_all(std::vector<task<void>> tasks) {
  detail::when_all_latch latch(tasks.size());
  co_await latch.start(tasks);
  latch.rethrow_if_failed();
}

}  // namespace tempfile
