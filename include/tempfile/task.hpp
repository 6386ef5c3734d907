#pragma once
/// \file
/// `task<T>`: a lazy, move-only coroutine result with symmetric transfer.

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace tempfile {

template <class T = void>
class task;

namespace detail {

struct task_access;

/// Coroutine frames come from per-thread free lists by size class: a batch of short tasks
/// then costs no malloc/free per task once warm. Memory freed on another thread joins that
/// thread's lists.
void* allocate_frame(std::size_t size);
void deallocate_frame(void* frame, std::size_t size) noexcept;

/// Base of every promise in the runtime: frames from the recycling allocator.
struct recycled_frame {
  static void* operator new(std::size_t size) { return allocate_frame(size); }
  static void operator delete(void* frame, std::size_t size) noexcept {
    deallocate_frame(frame, size);
  }
};

/// Told when a task it listens to finishes (instead of resuming a continuation): how
/// `when_all` joins many tasks without a wrapper coroutine per task.
class completion_listener {
 public:
  /// Returns the coroutine to resume next.
  virtual std::coroutine_handle<> task_finished(const std::exception_ptr& error) noexcept = 0;

 protected:
  ~completion_listener() = default;
};

class task_promise_base : public recycled_frame {
 public:
  std::suspend_always initial_suspend() const noexcept { return {}; }

  struct final_awaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) const noexcept {
      task_promise_base& promise = self.promise();
      if (promise.listener_) return promise.listener_->task_finished(promise.error_);
      return promise.continuation_;
    }
    void await_resume() const noexcept {}
  };
  final_awaiter final_suspend() const noexcept { return {}; }

  void unhandled_exception() noexcept { error_ = std::current_exception(); }
  const std::exception_ptr& error() const noexcept { return error_; }

  void set_continuation(std::coroutine_handle<> c) noexcept { continuation_ = c; }
  void set_listener(completion_listener& listener) noexcept { listener_ = &listener; }

  /// Marks the coroutine as started; returns whether it already was. A task may be started
  /// early (the runtime does this for write-behind) and awaited later.
  bool mark_started() noexcept { return std::exchange(started_, true); }

 protected:
  void rethrow_if_failed() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // A task started from outside any coroutine (sync_wait, spawn) has nobody to resume.
  std::coroutine_handle<> continuation_ = std::noop_coroutine();
  completion_listener* listener_ = nullptr;
  std::exception_ptr error_;
  bool started_ = false;
};

template <class T>
class task_promise : public task_promise_base {
 public:
  task<T> get_return_object() noexcept;

  template <class U>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) {
    value_.emplace(std::forward<U>(value));
  }

  T take() {
    rethrow_if_failed();
    assert(value_.has_value());
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;  // optional: T need not be default-constructible
};

template <>
class task_promise<void> : public task_promise_base {
 public:
  task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take() const { rethrow_if_failed(); }
};

/// What `co_await task` awaits. Outside `task` so that a misspelt or missing member of a
/// task not awaited (`create(ring).write(...)`) is not "corrected" to this name by g++.
template <class T>
struct task_awaiter {
  std::coroutine_handle<task_promise<T>> handle;
  bool await_ready() const noexcept { return handle.done(); }  // finished after an early start
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> waiting) const noexcept {
    assert(handle);
    handle.promise().set_continuation(waiting);
    if (handle.promise().mark_started()) return std::noop_coroutine();  // running: it resumes us
    return handle;
  }
  T await_resume() const { return handle.promise().take(); }
};

}  // namespace detail

/// A lazy coroutine: nothing runs until it is awaited (or handed to `sync_wait` /
/// `io_ring::spawn`). Awaiting it transfers control symmetrically, so long chains of
/// tasks finishing synchronously do not grow the stack. Exceptions propagate to the awaiter.
/// Destroying a task destroys its coroutine frame, cancelling whatever it is awaiting.
template <class T>
class [[nodiscard]] task {
 public:
  /// What the compiler uses to build a `task` coroutine.
  using promise_type = detail::task_promise<T>;

  task() noexcept = default;
  /// Takes `other`'s coroutine; `other` owns none.
  task(task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  /// Destroys this task's coroutine (if any), then takes `other`'s.
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { reset(); }

  /// True if this task owns a coroutine (a default-constructed or moved-from task does not).
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

  /// Starts the task (or joins it if already started) and resumes the awaiting coroutine
  /// with its result, rethrowing its exception.
  detail::task_awaiter<T> operator co_await() const& noexcept { return {handle_}; }
  /// The same for a task awaited as a temporary: `co_await make_task()`.
  detail::task_awaiter<T> operator co_await() const&& noexcept { return {handle_}; }

 private:
  using handle_type = std::coroutine_handle<promise_type>;
  friend promise_type;
  friend struct detail::task_access;

  explicit task(handle_type h) noexcept : handle_(h) {}

  void reset() noexcept {
    if (handle_) std::exchange(handle_, {}).destroy();
  }

  handle_type handle_;
};

namespace detail {

template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}

inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}

/// Lets the runtime start a task from outside a coroutine and collect its result.
struct task_access {
  template <class T>
  static std::coroutine_handle<> handle(const task<T>& t) noexcept {
    return t.handle_;
  }
  template <class T>
  static T take(task<T>& t) {
    return t.handle_.promise().take();
  }
  /// Marks `t` started; returns whether it still has to be resumed for the first time.
  template <class T>
  static bool claim_start(task<T>& t) noexcept {
    return !t.handle_.promise().mark_started();
  }
  /// Runs `t` until its first suspension; awaiting it later joins it.
  template <class T>
  static void start(task<T>& t) {
    if (claim_start(t)) t.handle_.resume();
  }
  /// Starts `t` (if not yet started) reporting its end to `listener`; a task that has
  /// already finished reports at once. What the listener answers from inside this call is
  /// ignored: it must not ask to resume anyone before all its tasks were started.
  template <class T>
  static void start_listened(task<T>& t, completion_listener& listener) {
    auto& promise = t.handle_.promise();
    if (t.handle_.done()) {
      (void)listener.task_finished(promise.error());
      return;
    }
    promise.set_listener(listener);
    if (claim_start(t)) t.handle_.resume();
  }
};

}  // namespace detail
}  // namespace tempfile
