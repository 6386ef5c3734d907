#pragma once
/// \file
/// Boost.Asio interop: an `io_ring` driven by an `io_context`'s thread, and
/// `tempfile::task`s awaited from Asio through a completion token. Optional: installed only
/// when Boost.Asio was found, and not included by `<tempfile/tempfile.hpp>`.

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include <tempfile/detail/asio/attachment_core.hpp>
#include <tempfile/detail/asio/run_operation.hpp>
#include <tempfile/io_ring.hpp>
#include <tempfile/task.hpp>

/// Boost.Asio interop (this header only).
namespace tempfile::asio {

/// Drives `ring` from `context`: whenever the ring has work, a handler on the context runs
/// one non-blocking `io_ring::poll`. Exceptions of tasks spawned on the ring leave
/// `io_context::run` (which may be called again).
///
/// Like an Asio I/O object: idle, it is not work (`run()` returns once the context has
/// nothing else to do). An `async_run` in flight is work; a task given to
/// `io_ring::spawn` is driven while the context runs but, like a raw reactor
/// registration, does not keep `run()` from returning: await it through `async_run`. Ring, context and attachment may
/// be destroyed in any order, with operations in flight: a context destroyed first
/// destroys their handlers uninvoked (their tasks are cancelled on the ring's thread); a
/// ring destroyed first completes them with `ECANCELED`, posted; an attachment destroyed
/// first keeps driving them to their end, then stops.
///
/// One ring per thread: the attachment is made on the ring's thread, and only that thread
/// may run the context. A context run by another thread gets `std::logic_error` out of
/// that thread's `run()`, and the ring is still driven when its own thread runs the
/// context. A server using several threads gives each its own `io_context`, `io_ring` and
/// attachment (`examples/upload_server --threads N`).
class ring_attachment {
 public:
  /// Throws `std::logic_error` off the ring's thread or if `ring` is attached already,
  /// `std::system_error` if the readiness descriptor cannot be made.
  ring_attachment(boost::asio::io_context& context, io_ring& ring)
      : core_(std::make_shared<detail::attachment_core>(context, ring)) {
    ring.extension<detail::attachment_record>().add(core_);
    core_->start();
  }
  ~ring_attachment() { core_->detach(); }
  ring_attachment(const ring_attachment&) = delete;
  ring_attachment& operator=(const ring_attachment&) = delete;

 private:
  std::shared_ptr<detail::attachment_core> core_;
};

namespace detail {

template <class Token>
inline constexpr bool is_use_awaitable = false;
template <class Executor>
inline constexpr bool is_use_awaitable<boost::asio::use_awaitable_t<Executor>> = true;

template <class T, class CompletionToken>
auto initiate_run(io_ring& ring, task<T> work, CompletionToken&& token) {
  auto core = ring.extension<attachment_record>().attached();
  return boost::asio::async_initiate<CompletionToken, run_signature<T>>(
      [&ring, core = std::move(core)](auto handler, task<T> deferred_work) {
        using operation = run_operation<T, std::decay_t<decltype(handler)>>;
        operation::start(std::make_unique<operation>(core, ring, std::move(deferred_work),
                                                     std::move(handler)));
      },
      token, std::move(work));
}

}  // namespace detail

/// Runs `work` on `ring` (attached to an io_context) and completes `token` with
/// `(std::exception_ptr)` for `task<void>`, else `(std::exception_ptr, T)`, with `T{}`
/// beside an exception; a `T` without a default (a file) comes as `std::optional<T>`,
/// empty beside an exception, except with `use_awaitable`, which yields the `T` itself.
/// With `use_awaitable` the exception is rethrown in the awaiting coroutine.
///
/// May be called from any thread: the task starts and runs on the ring's thread (as
/// `co_spawn` dispatches to its executor), and the handler runs on its associated executor
/// (the ring's context by default), never inside a step of the ring. The ring must outlive
/// the call. Throws `std::logic_error` when the ring is not attached.
///
/// Cancellation through the handler's slot of type `terminal` (or `all`, which includes
/// it: what `awaitable_operators`' `||` and `parallel_group` emit) is asynchronous and
/// never blocks the emitting thread or the context: the task's operations in flight are
/// cancelled in the kernel, its coroutines are not resumed again, and once the kernel has
/// given every op and buffer back the task is destroyed (a temporary file vanishes, a
/// spool frees its memory, nothing is published unless its publish already completed;
/// bytes a write already put in a file stay there) and the operation completes with
/// `std::system_error(ECANCELED)`. An op the kernel cannot stop half-way (a large write
/// an io-wq worker has begun) finishes first, while the context runs other handlers.
/// `partial` and `total` alone are ignored: a running task's effects (bytes written, files
/// made) cannot be undone, so it runs to its end.
template <class T, class CompletionToken>
  requires(detail::plain_result<T> || !detail::is_use_awaitable<std::decay_t<CompletionToken>>)
auto async_run(io_ring& ring, task<T> work, CompletionToken&& token) {
  return detail::initiate_run(ring, std::move(work), std::forward<CompletionToken>(token));
}

/// `async_run` with `use_awaitable` for a result without a default: yields the `T`.
template <class T, class Executor>
  requires(!detail::plain_result<T>)
boost::asio::awaitable<T, Executor> async_run(io_ring& ring, task<T> work,
                                              boost::asio::use_awaitable_t<Executor> token) {
  std::optional<T> result = co_await detail::initiate_run(ring, std::move(work), token);
  co_return std::move(*result);
}

}  // namespace tempfile::asio
