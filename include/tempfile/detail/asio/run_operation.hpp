#pragma once
/// \file
/// One `async_run`: the task on the ring's thread, the handler on its executor.

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <cerrno>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include <tempfile/detail/asio/attachment_core.hpp>
#include <tempfile/detail/op_scope.hpp>
#include <tempfile/io_ring.hpp>
#include <tempfile/task.hpp>

namespace tempfile::asio::detail {

/// A result handed to a handler as it is, with `T{}` beside an exception; one without a
/// default (a file) is handed as `std::optional<T>`, empty beside an exception.
template <class T>
inline constexpr bool plain_result = std::is_void_v<T> || std::is_default_constructible_v<T>;
template <class T>
using handed_result = std::conditional_t<plain_result<T>, T, std::optional<T>>;

template <class T>
struct run_signature_of {
  using type = void(std::exception_ptr, handed_result<T>);
};
template <>
struct run_signature_of<void> {
  using type = void(std::exception_ptr);
};
template <class T>
using run_signature = typename run_signature_of<T>::type;

/// The operation behind one `async_run`, owned by the coroutine that drives it on the ring
/// (so by the ring: a ring destroyed first destroys it). It starts the task under its own
/// op_scope, so a cancellation can ask the kernel to give the task's ops back without
/// waiting; once they are back, the task is destroyed (nothing of it in flight) and the
/// handler completes with ECANCELED.
template <class T, class Handler>
class run_operation final : public operation_base,
                            public tempfile::detail::completion_listener {
 public:
  run_operation(std::shared_ptr<attachment_core> core, io_ring& ring, task<T> work,
                Handler handler)
      : core_(std::move(core)),
        ring_(ring),
        work_(std::move(work)),
        handler_(std::move(handler)),
        handler_work_(boost::asio::make_work_guard(
            boost::asio::get_associated_executor(*handler_, core_->context_executor()))) {}
  run_operation(const run_operation&) = delete;
  run_operation& operator=(const run_operation&) = delete;

  /// Ended before its task did: the ring (or the attachment) went away first.
  ~run_operation() {
    if (!completed_) {
      work_ = {};  // the ring is being destroyed: waiting for the kernel is due here
      scope_.end(ring_);
      deliver(cancelled_error(), {});
    }
    core_->remove(*this);
  }

  /// On the initiating thread: registers, connects the cancellation slot there (where it is
  /// emitted), and hands the driving coroutine to the ring's thread.
  static void start(std::unique_ptr<run_operation> self) {
    run_operation& op = *self;
    if (!op.core_->add(op)) {  // the ring or the context is gone
      op.deliver(cancelled_error(), {});
      return;
    }
    auto slot = boost::asio::get_associated_cancellation_slot(*op.handler_);
    if (slot.is_connected())
      slot.assign([core = op.core_, id = op.id()](boost::asio::cancellation_type type) {
        if ((type & boost::asio::cancellation_type::terminal) != boost::asio::cancellation_type::none)
          core->request_cancel(id);
      });
    auto& core = *op.core_;
    (void)core.run_on_ring(drive(std::move(self)));  // refused: drive's frame ends self
  }

 private:
  using work_guard = boost::asio::executor_work_guard<
      boost::asio::associated_executor_t<Handler, attachment_core::executor_type>>;
  struct no_value {};
  using value_holder = std::conditional_t<std::is_void_v<T>, no_value, std::optional<T>>;

  static std::exception_ptr cancelled_error() {
    return std::make_exception_ptr(
        std::system_error(ECANCELED, std::generic_category(), "tempfile::asio::async_run"));
  }

  /// Resumed when the task finishes, or once a cancelled task's ops are all back.
  struct work_awaiter {
    run_operation& op;
    bool await_ready() const noexcept { return op.cancelled_; }
    bool await_suspend(std::coroutine_handle<> bridge) {
      op.bridge_ = bridge;
      op.started_ = true;
      op.starting_ = true;
      {
        const tempfile::detail::op_scope::entered in_scope(op.ring_, op.scope_);
        tempfile::detail::task_access::start_listened(op.work_, op);
      }
      op.starting_ = false;
      return !op.finished_;
    }
    void await_resume() const noexcept {}
  };

  static task<void> drive(std::unique_ptr<run_operation> self) {
    co_await work_awaiter{*self};
    self->complete();
  }

  std::coroutine_handle<> task_finished(const std::exception_ptr&) noexcept override {
    finished_ = true;
    // While starting, await_suspend sees finished_; once cancelled, the drained scope
    // resumes the bridge.
    if (starting_ || cancelled_) return std::noop_coroutine();
    return std::exchange(bridge_, {});
  }

  void cancel() override {
    if (finished_ || cancelled_ || completed_) return;
    cancelled_ = true;
    if (started_) scope_.cancel(ring_, std::exchange(bridge_, {}));
    // Not started yet: drive sees the flag and never starts the task.
  }

  void abandon_handler() noexcept override {
    const auto [handler, guard] = take_handler();
  }  // destroyed uninvoked, outside the lock

  /// The handler and its work guard, unless delivered or abandoned already.
  std::pair<std::optional<Handler>, std::optional<work_guard>> take_handler() {
    std::pair<std::optional<Handler>, std::optional<work_guard>> taken;
    const auto lock = core_->lock();
    if (handler_) taken.first.emplace(std::move(*handler_));
    if (handler_work_) taken.second.emplace(std::move(*handler_work_));
    handler_.reset();
    handler_work_.reset();
    return taken;
  }

  void complete() {
    completed_ = true;
    std::exception_ptr error;
    value_holder value{};
    if (cancelled_) {
      error = cancelled_error();
    } else {
      try {
        if constexpr (std::is_void_v<T>)
          tempfile::detail::task_access::take(work_);
        else
          value.emplace(tempfile::detail::task_access::take(work_));
      } catch (...) {
        error = std::current_exception();
      }
    }
    work_ = {};  // nothing of it is in flight: no wait
    scope_.end(ring_);
    deliver(error, std::move(value));
  }

  /// Posts the handler to its executor, unless the context's shutdown destroyed it.
  void deliver(std::exception_ptr error, value_holder value) {
    auto [handler, guard] = take_handler();
    if (!handler) return;
    auto executor = boost::asio::get_associated_executor(*handler, core_->context_executor());
    boost::asio::post(executor, [handler = std::move(*handler), error,
                                 value = std::move(value)]() mutable {
      // Cleared where the slot is emitted: the handler's executor.
      auto slot = boost::asio::get_associated_cancellation_slot(handler);
      if (slot.is_connected()) slot.clear();
      if constexpr (std::is_void_v<T>)
        std::move(handler)(error);
      else if constexpr (plain_result<T>)
        std::move(handler)(error, value ? std::move(*value) : T{});
      else
        std::move(handler)(error, std::move(value));
    });
  }

  std::shared_ptr<attachment_core> core_;
  io_ring& ring_;
  tempfile::detail::op_scope scope_;  // before work_: the task's ops refer to it
  task<T> work_;
  std::optional<Handler> handler_;   // empty once delivered or abandoned
  std::optional<work_guard> handler_work_;
  std::coroutine_handle<> bridge_;  // drive, waiting for work_
  bool started_ = false;
  bool starting_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  bool completed_ = false;
};

}  // namespace tempfile::asio::detail
