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

/// Whether a result can be copied for a second await. Containers claim to be copyable
/// whatever their elements are (`std::vector<unique_fd>`), so their elements are asked too.
template <class T>
struct copyable_result : std::is_copy_constructible<T> {};
template <class T>
  requires requires { typename T::value_type; }
struct copyable_result<T>
    : std::bool_constant<std::is_copy_constructible_v<T> &&
                         copyable_result<typename T::value_type>::value> {};

/// A call not made yet, for a task that has no coroutine until awaited; once it finished
/// in memory, its result.
template <class T, bool = can_defer<T>>
struct deferred_call {
  const in_memory_path<T>* path = nullptr;  // none: not pending
  void* object = nullptr;
  std::span<const std::byte> bytes;
  std::optional<T> finished;  // the call finished in memory with this result

  bool pending() const noexcept { return path != nullptr; }
  bool has_result() const noexcept { return finished.has_value(); }
  task<T> as_coroutine() const { return path->as_coroutine(object, bytes); }
};
template <class T>
struct deferred_call<T, false> {  // tasks of other types are always coroutines
  static constexpr bool pending() noexcept { return false; }
  static constexpr bool has_result() noexcept { return false; }
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

  /// The result, moved out (a task awaited as a temporary is not awaited again).
  T take() {
    rethrow_if_failed();
    assert(value_.has_value());
    return std::move(*value_);
  }
  /// The result, copied: a task awaited by name keeps it for the next await.
  T copy() const {
    rethrow_if_failed();
    assert(value_.has_value());
    return *value_;
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
  void copy() const { rethrow_if_failed(); }
};

/// What `co_await task` awaits. A coroutine is resumed by symmetric transfer; a deferred
/// call runs in `await_ready` and becomes the task's coroutine only if it cannot finish in
/// memory. Either way the task keeps the outcome, so awaiting it again runs nothing again.
/// Outside `task` so that a misspelt or missing member of a task not awaited
/// (`create(ring).write(...)`) is not "corrected" to this name by g++.
template <class T>
class task_awaiter {
 public:
  /// `by_name`: the task is an lvalue, whose value a later await must find again.
  task_awaiter(const task<T>& awaited, bool by_name) noexcept
      : task_(awaited), by_name_(by_name) {}

  bool await_ready();
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> waiting) const noexcept;
  T await_resume() const;

 private:
  const task<T>& task_;  // outlives the co_await expression
  bool by_name_;
};

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

  /// True if this task has work or a result (a default-constructed or moved-from task has
  /// none).
  explicit operator bool() const noexcept {
    return handle_ || call_.pending() || call_.has_result();
  }

  /// Starts the task (or joins it if already started) and resumes the awaiting coroutine
  /// with its result, rethrowing its exception. A finished task awaited again runs nothing
  /// and gives the same result (a copy: the task keeps its own).
  detail::task_awaiter<T> operator co_await() const& noexcept { return {*this, true}; }
  /// The same for a task awaited as a temporary, `co_await make_task()`: its result is
  /// moved out.
  detail::task_awaiter<T> operator co_await() const&& noexcept { return {*this, false}; }

 private:
  using handle_type = std::coroutine_handle<promise_type>;
  friend promise_type;
  friend struct detail::task_access;
  friend class detail::task_awaiter<T>;

  explicit task(handle_type h) noexcept : handle_(h) {}
  explicit task(const detail::deferred_call<T>& call) noexcept : call_(call) {}

  /// Runs a pending deferred call in memory if it can; otherwise makes it this task's
  /// coroutine. Whether awaited or not, the task holds no pending call afterwards.
  void settle_deferred_call() const {
    if constexpr (detail::can_defer<T>) {
      if (!call_.pending()) return;
      call_.path->finish_now(call_.object, call_.bytes, call_.finished);
      if (!call_.finished) {
        task made = call_.as_coroutine();
        handle_ = std::exchange(made.handle_, {});
      }
      call_.path = nullptr;
    }
  }

  /// The coroutine, made now if this task holds a deferred call (one that finished in
  /// memory becomes a coroutine returning its result).
  handle_type coroutine() {
    if constexpr (detail::can_defer<T>) {
      if (call_.pending()) *this = std::exchange(call_, {}).as_coroutine();
      if (call_.finished) *this = finished_with(*std::exchange(call_, {}).finished);
    }
    return handle_;
  }
  template <class Value>
  static task finished_with(Value value) {
    co_return value;
  }

  void reset() noexcept {
    if (handle_) std::exchange(handle_, {}).destroy();
  }

  // Mutable: awaiting a const task settles its deferred call into a coroutine or a result.
  mutable handle_type handle_;
  [[no_unique_address]] mutable detail::deferred_call<T> call_;
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
    return task<T>{deferred_call<T>{&path, object, bytes, std::nullopt}};
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
bool task_awaiter<T>::await_ready() {
  task_.settle_deferred_call();
  if (task_.call_.has_result()) return true;
  assert(task_.handle_);
  return task_.handle_.done();  // finished after an early start, or awaited before
}

template <class T>
std::coroutine_handle<> task_awaiter<T>::await_suspend(
    std::coroutine_handle<> waiting) const noexcept {
  auto& promise = task_.handle_.promise();
  promise.set_continuation(waiting);
  if (promise.mark_started()) return std::noop_coroutine();  // running: it resumes us
  return task_.handle_;
}

template <class T>
T task_awaiter<T>::await_resume() const {
  if constexpr (can_defer<T>) {
    if (task_.call_.finished) return *task_.call_.finished;
  }
  if constexpr (std::is_void_v<T> || copyable_result<T>::value) {
    if (by_name_) return task_.handle_.promise().copy();
  }
  return task_.handle_.promise().take();
}

}  // namespace detail
}  // namespace tempfile
