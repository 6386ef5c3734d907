#pragma once
/// \file
/// Boost.Asio interop: an `io_ring` driven by an `io_context`'s thread, and
/// `tempfile::task`s awaited from Asio through a completion token. Optional: installed only
/// when Boost.Asio was found, and not included by `<tempfile/tempfile.hpp>`.

#include <fcntl.h>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>

#include <cerrno>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

#include <tempfile/io_ring.hpp>
#include <tempfile/task.hpp>

/// Boost.Asio interop (this header only).
namespace tempfile::asio {

namespace detail {

/// What an attachment leaves on its ring, so that `async_run` finds the context.
class attachment_record : public tempfile::detail::ring_extension {
 public:
  explicit attachment_record(io_ring&) noexcept {}
  std::optional<boost::asio::io_context::executor_type> executor;
};

/// Waits on the ring's `poll_fd` and polls the ring when it is readable.
class ring_driver : public std::enable_shared_from_this<ring_driver> {
 public:
  ring_driver(boost::asio::io_context& context, io_ring& ring)
      : ring_(ring), readiness_(context, duplicate(ring.poll_fd())) {}

  void arm() {
    readiness_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                          [self = shared_from_this()](const boost::system::error_code& error) {
                            if (error || self->stopped_) return;
                            if (std::this_thread::get_id() != self->thread_)
                              throw std::logic_error(
                                  "tempfile::asio: a ring attached to an io_context was "
                                  "polled from a thread other than its own");
                            // Waiting again before polling: Asio's epoll reactor is
                            // edge-triggered, and poll may signal the descriptor itself.
                            self->arm();
                            self->ring_.poll();
                          });
  }

  void stop() {
    stopped_ = true;
    boost::system::error_code ignored;
    readiness_.close(ignored);
  }

 private:
  // Asio closes the descriptor it is given; the ring keeps its own.
  static int duplicate(int fd) {
    const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) throw std::system_error(errno, std::generic_category(), "fcntl(F_DUPFD_CLOEXEC)");
    return copy;
  }

  io_ring& ring_;
  boost::asio::posix::stream_descriptor readiness_;
  std::thread::id thread_ = std::this_thread::get_id();
  bool stopped_ = false;
};

template <class T>
struct run_signature_of {
  using type = void(std::exception_ptr, T);
};
template <>
struct run_signature_of<void> {
  using type = void(std::exception_ptr);
};
template <class T>
using run_signature = typename run_signature_of<T>::type;

/// One `async_run`: runs the task on the ring, then posts the handler to its executor.
/// Cancellation destroys the task (its ops are cancelled and waited for, its objects'
/// destructors run) and completes with ECANCELED.
template <class T, class Handler>
class run_operation final : public tempfile::detail::completion_listener,
                            public std::enable_shared_from_this<run_operation<T, Handler>> {
 public:
  run_operation(io_ring& ring, boost::asio::io_context::executor_type context, task<T> work,
                Handler handler)
      : ring_(ring),
        context_(context),
        work_(std::move(work)),
        handler_(std::move(handler)),
        handler_work_(boost::asio::make_work_guard(
            boost::asio::get_associated_executor(handler_, context_))) {}

  void start() {
    auto slot = boost::asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) {
      // Emitted from Asio code; acted on from the context, where no step of the ring runs.
      slot.assign([weak = this->weak_from_this(), context = context_](boost::asio::cancellation_type) {
        boost::asio::post(context, [weak] {
          if (auto self = weak.lock()) self->cancel();
        });
      });
    }
    ring_.spawn(drive(this->shared_from_this()));
  }

 private:
  /// Resumed when the work finishes (listener) or is cancelled.
  struct work_awaiter {
    run_operation& op;
    bool await_ready() const noexcept { return op.cancelled_; }
    bool await_suspend(std::coroutine_handle<> bridge) {
      op.bridge_ = bridge;
      op.starting_ = true;
      tempfile::detail::task_access::start_listened(op.work_, op);
      op.starting_ = false;
      return !op.finished_;
    }
    void await_resume() const noexcept {}
  };

  static task<void> drive(std::shared_ptr<run_operation> self) {
    co_await work_awaiter{*self};
    self->complete();
  }

  std::coroutine_handle<> task_finished(const std::exception_ptr&) noexcept override {
    finished_ = true;
    if (starting_) return std::noop_coroutine();  // await_suspend sees finished_
    return std::exchange(bridge_, {});
  }

  void cancel() {
    if (finished_ || cancelled_ || completed_) return;
    cancelled_ = true;
    if (!bridge_) return;  // not started yet: the bridge sees the flag
    work_ = {};            // destroys the work's frames: their ops are cancelled
    std::exchange(bridge_, {}).resume();
  }

  void complete() {
    completed_ = true;
    bridge_ = {};
    std::exception_ptr error;
    if (cancelled_)
      error = std::make_exception_ptr(
          std::system_error(ECANCELED, std::generic_category(), "tempfile::asio::async_run"));
    auto slot = boost::asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) slot.clear();
    auto executor = boost::asio::get_associated_executor(handler_, context_);
    if constexpr (std::is_void_v<T>) {
      if (!error) try {
          tempfile::detail::task_access::take(work_);
        } catch (...) {
          error = std::current_exception();
        }
      work_ = {};
      boost::asio::post(executor, boost::asio::append(std::move(handler_), error));
    } else {
      T value{};
      if (!error) try {
          value = tempfile::detail::task_access::take(work_);
        } catch (...) {
          error = std::current_exception();
        }
      work_ = {};
      boost::asio::post(executor,
                        boost::asio::append(std::move(handler_), error, std::move(value)));
    }
    handler_work_.reset();
  }

  io_ring& ring_;
  boost::asio::io_context::executor_type context_;
  task<T> work_;
  Handler handler_;
  boost::asio::executor_work_guard<boost::asio::associated_executor_t<
      Handler, boost::asio::io_context::executor_type>>
      handler_work_;
  std::coroutine_handle<> bridge_;  // the coroutine on the ring waiting for work_
  bool starting_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  bool completed_ = false;
};

inline boost::asio::io_context::executor_type attached_context(io_ring& ring) {
  auto& record = ring.extension<attachment_record>();
  if (!record.executor)
    throw std::logic_error("tempfile::asio::async_run: the ring is not attached to an io_context");
  return *record.executor;
}

}  // namespace detail

/// Drives `ring` from `context` while it lives: whenever the ring has work, a handler on
/// the context runs one non-blocking `io_ring::poll`. Exceptions of tasks spawned on the
/// ring leave `io_context::run` (which may be called again). The pending wait counts as
/// work: `run()` returns only once the attachment is gone or the context is stopped.
///
/// One ring per thread: the ring belongs to the thread that constructs it, and only that
/// thread may run the context (a poll from another thread throws `std::logic_error`). A
/// server using several threads gives each its own `io_context`, `io_ring` and attachment
/// (an io_context per thread) rather than running one context from many threads; a strand
/// does not help, since it serialises handlers but does not keep them on one thread.
/// Destroy the attachment before the ring.
class ring_attachment {
 public:
  /// Throws `std::logic_error` if `ring` is attached already, `std::system_error` if the
  /// readiness descriptor cannot be made.
  ring_attachment(boost::asio::io_context& context, io_ring& ring)
      : ring_(ring), driver_(std::make_shared<detail::ring_driver>(context, ring)) {
    auto& record = ring.extension<detail::attachment_record>();
    if (record.executor) throw std::logic_error("tempfile::asio: the ring is attached already");
    record.executor = context.get_executor();
    driver_->arm();
  }
  /// Stops driving the ring; tasks still on it stay suspended until it is driven again.
  ~ring_attachment() {
    driver_->stop();
    ring_.extension<detail::attachment_record>().executor.reset();
  }
  ring_attachment(const ring_attachment&) = delete;
  ring_attachment& operator=(const ring_attachment&) = delete;

 private:
  io_ring& ring_;
  std::shared_ptr<detail::ring_driver> driver_;
};

/// Runs `work` on `ring` (attached to an io_context) and completes `token` with
/// `(std::exception_ptr)` for `task<void>`, else `(std::exception_ptr, T)` (`T{}` beside an
/// exception, so `T` must be default-constructible): with `use_awaitable` the exception is
/// rethrown in the awaiting coroutine. The handler runs on its associated executor (the
/// ring's context by default), never inside a step of the ring. Any cancellation through
/// the handler's cancellation slot (for example a timeout with `awaitable_operators`)
/// destroys `work` on the ring's thread: operations in flight are cancelled and waited
/// for, the task's objects are destroyed (a temporary file vanishes, a spool frees its
/// memory, nothing is published unless its publish already completed), and the operation
/// completes with `std::system_error(ECANCELED)`. Throws `std::logic_error` when the ring
/// is not attached.
template <class T, class CompletionToken>
  requires(std::is_void_v<T> || std::is_default_constructible_v<T>)
auto async_run(io_ring& ring, task<T> work, CompletionToken&& token) {
  const auto context = detail::attached_context(ring);
  return boost::asio::async_initiate<CompletionToken, detail::run_signature<T>>(
      [&ring, context](auto handler, task<T> deferred_work) {
        using operation = detail::run_operation<T, std::decay_t<decltype(handler)>>;
        std::make_shared<operation>(ring, context, std::move(deferred_work), std::move(handler))
            ->start();
      },
      token, std::move(work));
}

}  // namespace tempfile::asio
