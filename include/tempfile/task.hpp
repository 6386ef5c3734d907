#pragma once
/// \file
/// `task<T>`: a lazy, move-only coroutine result with symmetric transfer.

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

namespace tempfile {

template <class T = void>
class task;

namespace detail {

struct task_access;

/// How a call that usually finishes in memory (a small write into a buffer) runs without a
/// coroutine frame: `finish_now` does the whole call and stores its result, or changes
/// nothing and stores none; then `as_coroutine` makes a coroutine doing the whole call.
template <class T>
struct in_memory_path {
  void (*finish_now)(void* object, std::span<const std::byte> bytes, std::optional<T>& result);
  task<T> (*as_coroutine)(void* object, std::span<const std::byte> bytes);
};

/// Only tasks of plain values (byte counts) may hold a deferred call: the awaiters of all
/// others stay as small as a coroutine handle.
template <class T>
inline constexpr bool can_defer = std::is_arithmetic_v<T>;

/// A call not made yet, for a task that has no coroutine until awaited.
template <class T, bool = can_defer<T>>
struct deferred_call {
  const in_memory_path<T>* path = nullptr;  // none: the task is a coroutine
  void* object = nullptr;
  std::span<const std::byte> bytes;

  bool pending() const noexcept { return path != nullptr; }
  task<T> as_coroutine() const { return path->as_coroutine(object, bytes); }
};
template <class T>
struct deferred_call<T, false> {  // tasks of other types are always coroutines
  static constexpr bool pending() noexcept { return false; }
};

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

/// What `co_await task` awaits: the task's coroutine, resumed by symmetric transfer.
template <class T>
class coroutine_awaiter {
 public:
  explicit coroutine_awaiter(std::coroutine_handle<task_promise<T>> handle) noexcept
      : handle_(handle) {}
  bool await_ready() const noexcept { return handle_.done(); }  // finished after an early start
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> waiting) const noexcept {
    assert(handle_);
    handle_.promise().set_continuation(waiting);
    if (handle_.promise().mark_started()) return std::noop_coroutine();  // running: it resumes us
    return handle_;
  }
  T await_resume() const { return handle_.promise().take(); }

 protected:
  std::coroutine_handle<task_promise<T>> handle_;
};

/// What `co_await` awaits for a task that may hold a deferred call: the call runs in
/// `await_ready`; only if it cannot finish in memory does it become a coroutine, which this
/// awaiter owns until the awaiting coroutine has its result.
template <class T>
class deferrable_awaiter : public coroutine_awaiter<T> {
 public:
  using coroutine_awaiter<T>::coroutine_awaiter;
  explicit deferrable_awaiter(const deferred_call<T>& call) noexcept
      : coroutine_awaiter<T>({}), call_(&call) {}
  deferrable_awaiter(const deferrable_awaiter&) = delete;
  deferrable_awaiter& operator=(const deferrable_awaiter&) = delete;
  ~deferrable_awaiter() {
    if (owns_handle_) this->handle_.destroy();
  }

  bool await_ready() {
    if (!call_) return coroutine_awaiter<T>::await_ready();
    call_->path->finish_now(call_->object, call_->bytes, result_);
    return result_ || start_coroutine();
  }
  T await_resume() const {
    if (result_) return *result_;
    return coroutine_awaiter<T>::await_resume();
  }

 private:
  bool start_coroutine();

  const deferred_call<T>* call_ = nullptr;  // the awaited task's: it outlives the co_await
  std::optional<T> result_;
  bool owns_handle_ = false;
};

/// Outside `task` so that a misspelt or missing member of a task not awaited
/// (`create(ring).write(...)`) is not "corrected" to this name by g++.
template <class T>
using task_awaiter = std::conditional_t<can_defer<T>, deferrable_awaiter<T>, coroutine_awaiter<T>>;

}  // namespace detail

/// A lazy coroutine: nothing runs until it is awaited (or handed to `sync_wait` /
/// `io_ring::spawn`). Awaiting it transfers control symmetrically, so long chains of
/// tasks finishing synchronously do not grow the stack. Exceptions propagate to the awaiter.
/// Destroying a task destroys its coroutine frame, cancelling whatever it is awaiting.
/// Some calls (small writes) return a task holding the call itself instead of a coroutine:
/// it runs when awaited, in memory when it can, and behaves the same in every other way.
template <class T>
class [[nodiscard]] task {
 public:
  /// What the compiler uses to build a `task` coroutine.
  using promise_type = detail::task_promise<T>;

  task() noexcept = default;
  /// Takes `other`'s coroutine; `other` owns none.
  task(task&& other) noexcept
      : handle_(std::exchange(other.handle_, {})), call_(std::exchange(other.call_, {})) {}
  /// Destroys this task's coroutine (if any), then takes `other`'s.
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
      call_ = std::exchange(other.call_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { reset(); }

  /// True if this task has work to do (a default-constructed or moved-from task has none).
  explicit operator bool() const noexcept { return handle_ || call_.pending(); }

  /// Starts the task (or joins it if already started) and resumes the awaiting coroutine
  /// with its result, rethrowing its exception.
  detail::task_awaiter<T> operator co_await() const& noexcept { return make_awaiter(); }
  /// The same for a task awaited as a temporary: `co_await make_task()`.
  detail::task_awaiter<T> operator co_await() const&& noexcept { return make_awaiter(); }

 private:
  using handle_type = std::coroutine_handle<promise_type>;
  friend promise_type;
  friend struct detail::task_access;

  explicit task(handle_type h) noexcept : handle_(h) {}
  explicit task(const detail::deferred_call<T>& call) noexcept : call_(call) {}

  detail::task_awaiter<T> make_awaiter() const noexcept {
    if constexpr (detail::can_defer<T>) {
      if (call_.pending()) return detail::task_awaiter<T>{call_};
    }
    return detail::task_awaiter<T>{handle_};
  }

  /// The coroutine, made now if this task holds a deferred call.
  handle_type coroutine() {
    if constexpr (detail::can_defer<T>) {
      if (call_.pending()) *this = std::exchange(call_, {}).as_coroutine();
    }
    return handle_;
  }

  void reset() noexcept {
    if (handle_) std::exchange(handle_, {}).destroy();
  }

  handle_type handle_;
  [[no_unique_address]] detail::deferred_call<T> call_;
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
/// Each turns a deferred call into its coroutine first.
struct task_access {
  /// A task holding the call `object`'s `path` makes with `bytes` once awaited.
  template <class T>
  static task<T> defer(const in_memory_path<T>& path, void* object,
                       std::span<const std::byte> bytes) noexcept {
    return task<T>{deferred_call<T>{&path, object, bytes}};
  }
  /// Takes `t`'s coroutine; the caller destroys it.
  template <class T>
  static std::coroutine_handle<task_promise<T>> release(task<T>&& t) {
    t.coroutine();
    return std::exchange(t.handle_, {});
  }
  template <class T>
  static std::coroutine_handle<> handle(task<T>& t) {
    return t.coroutine();
  }
  template <class T>
  static T take(task<T>& t) {
    return t.coroutine().promise().take();
  }
  /// Marks `t` started; returns whether it still has to be resumed for the first time.
  template <class T>
  static bool claim_start(task<T>& t) {
    return !t.coroutine().promise().mark_started();
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
    auto& promise = t.coroutine().promise();
    if (t.handle_.done()) {
      (void)listener.task_finished(promise.error());
      return;
    }
    promise.set_listener(listener);
    if (claim_start(t)) t.handle_.resume();
  }
};

template <class T>
bool deferrable_awaiter<T>::start_coroutine() {
  this->handle_ = task_access::release(call_->as_coroutine());
  owns_handle_ = true;
  return false;
}

}  // namespace detail
}  // namespace tempfile
