#pragma once
/// \file
/// `when_all`: run tasks concurrently, wait for every one of them.

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include <tempfile/task.hpp>

namespace tempfile {
namespace detail {

/// Counts unfinished children; the last one to finish resumes the parent.
class when_all_latch {
 public:
  explicit when_all_latch(std::size_t children) noexcept : remaining_(children + 1) {}

  /// Called as each child finishes. Returns whom to resume.
  std::coroutine_handle<> arrive() noexcept {
    return --remaining_ == 0 ? parent_ : std::noop_coroutine();
  }
  void record(std::exception_ptr e) noexcept {
    if (!first_error_) first_error_ = std::move(e);
  }
  void rethrow_if_failed() const {
    if (first_error_) std::rethrow_exception(first_error_);
  }

  template <class Children>
  auto start(Children& children) noexcept {
    struct awaiter {
      when_all_latch& latch;
      Children& children;
      bool await_ready() const noexcept { return children.empty(); }
      bool await_suspend(std::coroutine_handle<> parent) noexcept {
        latch.parent_ = parent;
        for (auto& child : children) child.start(latch);
        // The extra count held during the starts: drop it; suspend unless all finished.
        return --latch.remaining_ != 0;
      }
      void await_resume() const noexcept {}
    };
    return awaiter{*this, children};
  }

 private:
  std::size_t remaining_;
  std::coroutine_handle<> parent_;
  std::exception_ptr first_error_;
};

/// Coroutine wrapping one child task: records its exception, then arrives at the latch.
class when_all_child {
 public:
  class promise_type {
   public:
    when_all_child get_return_object() noexcept {
      return when_all_child{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    struct final_awaiter {
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(
          std::coroutine_handle<promise_type> self) const noexcept {
        return self.promise().latch_->arrive();
      }
      void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() noexcept { latch_->record(std::current_exception()); }

   private:
    friend when_all_child;
    when_all_latch* latch_ = nullptr;
  };

  when_all_child(when_all_child&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  when_all_child& operator=(when_all_child&&) = delete;
  ~when_all_child() {
    if (handle_) handle_.destroy();
  }

  void start(when_all_latch& latch) noexcept {
    handle_.promise().latch_ = &latch;
    handle_.resume();
  }

 private:
  explicit when_all_child(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  std::coroutine_handle<promise_type> handle_;
};

template <class T>
when_all_child run_child(const task<T>& child, std::optional<T>& slot) {
  slot.emplace(co_await child);
}

inline when_all_child run_child(const task<void>& child) { co_await child; }

}  // namespace detail

/// Runs every task concurrently and returns their results in the input order. If any
/// throws, the others still run to completion, then the first exception is rethrown.
template <class T>
task<std::vector<T>> when_all(std::vector<task<T>> tasks) {
  std::vector<std::optional<T>> slots(tasks.size());
  std::vector<detail::when_all_child> children;
  children.reserve(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i)
    children.push_back(detail::run_child(tasks[i], slots[i]));
  detail::when_all_latch latch(children.size());
  co_await latch.start(children);
  latch.rethrow_if_failed();
  std::vector<T> results;
  results.reserve(slots.size());
  for (auto& slot : slots) results.push_back(std::move(*slot));
  co_return results;
}

/// `when_all` for tasks without a value.
inline task<void> when_all(std::vector<task<void>> tasks) {
  std::vector<detail::when_all_child> children;
  children.reserve(tasks.size());
  for (auto& t : tasks) children.push_back(detail::run_child(t));
  detail::when_all_latch latch(children.size());
  co_await latch.start(children);
  latch.rethrow_if_failed();
}

}  // namespace tempfile
