#pragma once
/// \file
/// What a `ring_attachment` shares with its ring, its context and its operations, so that
/// any of them may go first.

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <tempfile/io_ring.hpp>
#include <tempfile/task.hpp>

namespace tempfile::asio::detail {

/// An `async_run` as its attachment sees it.
class operation_base {
 public:
  /// The context shuts down: the handler is destroyed uninvoked (Asio's rule for pending
  /// operations); the task is cancelled separately.
  virtual void abandon_handler() noexcept = 0;
  /// On the ring's thread: cancellation was requested through the handler's slot.
  virtual void cancel() = 0;
  /// Set once registered with a core.
  std::uint64_t id() const noexcept { return id_; }

 protected:
  ~operation_base() = default;

 private:
  friend class attachment_core;
  std::uint64_t id_ = 0;
  operation_base* prev_ = nullptr;  // the core's list of live operations
  operation_base* next_ = nullptr;
};

/// The state of one attachment, shared by the `ring_attachment`, the ring (its record), the
/// context (its service) and the operations, so each of them can go first: the ring
/// going nulls `ring_`, the context shutting down nulls `context_`, the attachment going
/// clears `attached_` while operations in flight are still driven to their end.
///
/// Driving: a wait on a duplicate of the ring's `poll_fd` runs `io_ring::poll` on the
/// context's thread. That wait is not work, like an idle socket: each time it is started
/// the context's work count is given back (`on_work_finished`), and taken again when its
/// handler runs (`on_work_started`), so `run()` returns once nothing else is pending. The
/// first wait starts from a handler, where the count cannot reach zero and stop the context.
class attachment_core : public std::enable_shared_from_this<attachment_core> {
 public:
  using executor_type = boost::asio::io_context::executor_type;

  /// On the ring's thread (`std::logic_error` otherwise).
  attachment_core(boost::asio::io_context& context, io_ring& ring);

  /// Posts the first wait and joins the context's service.
  void start();
  /// The attachment object is gone: operations in flight are driven to their end, then
  /// the wait stops.
  void detach();
  bool attached() const {
    const std::lock_guard lock(mutex_);
    return attached_ && ring_ && context_;
  }
  executor_type context_executor() const noexcept { return executor_; }

  /// Any thread: registers `op`; false once the ring or the context is gone.
  bool add(operation_base& op);
  /// Unregisters `op`; stops waiting if the attachment is gone and nothing is left.
  void remove(operation_base& op) noexcept;
  /// Any thread: starts `t` on the ring's thread; false (and `t` destroyed here) once the
  /// ring is gone.
  bool run_on_ring(task<void> t);
  /// Any thread: asks the ring's thread to cancel operation `id`, if it still runs.
  void request_cancel(std::uint64_t id) noexcept;
  /// Locks what operations share with the context's shutdown (their handlers).
  std::unique_lock<std::mutex> lock() const { return std::unique_lock(mutex_); }

  /// From the ring's destructor, before its tasks are destroyed.
  void ring_closing() noexcept;
  /// From the context's shutdown.
  void context_shutdown() noexcept;

 private:
  static task<void> cancel_operation(std::shared_ptr<attachment_core> core, std::uint64_t id);
  void arm();
  void on_ready(const boost::system::error_code& error);
  void stop_waiting() noexcept;
  bool idle() const noexcept { return !attached_ && !operations_; }

  mutable std::mutex mutex_;
  io_ring* ring_;                       // null once the ring began its destruction
  boost::asio::io_context* context_;    // null once the context shut down
  const executor_type executor_;
  const std::thread::id ring_thread_;
  std::optional<boost::asio::posix::stream_descriptor> readiness_;
  operation_base* operations_ = nullptr;  // live async_runs
  std::uint64_t next_id_ = 0;
  bool attached_ = true;
};

/// Per io_context: tells the attachments made with it when it shuts down. Made after the
/// context's reactor (by the first attachment's descriptor), so it shuts down before it.
class attachment_service : public boost::asio::execution_context::service {
 public:
  using key_type = attachment_service;
  static inline boost::asio::execution_context::id id;

  explicit attachment_service(boost::asio::execution_context& context) : service(context) {}

  void add(std::weak_ptr<attachment_core> core) {
    const std::lock_guard lock(mutex_);
    std::erase_if(cores_, [](const auto& c) { return c.expired(); });
    cores_.push_back(std::move(core));
  }

 private:
  void shutdown() override {
    std::vector<std::weak_ptr<attachment_core>> cores;
    {
      const std::lock_guard lock(mutex_);
      cores.swap(cores_);
    }
    for (auto& weak : cores)
      if (auto core = weak.lock()) core->context_shutdown();
  }

  std::mutex mutex_;
  std::vector<std::weak_ptr<attachment_core>> cores_;
};

/// What a ring keeps of its attachments: the live one, for `async_run`, and every core
/// still driving operations, to tell it when the ring goes.
class attachment_record : public tempfile::detail::ring_extension {
 public:
  explicit attachment_record(io_ring&) noexcept {}

  /// The live attachment's core; throws std::logic_error when there is none.
  std::shared_ptr<attachment_core> attached() const {
    const std::lock_guard lock(mutex_);
    for (const auto& core : cores_)
      if (core->attached()) return core;
    throw std::logic_error("tempfile::asio::async_run: the ring is not attached to an io_context");
  }
  /// Throws std::logic_error when the ring is attached already.
  void add(std::shared_ptr<attachment_core> core) {
    const std::lock_guard lock(mutex_);
    for (const auto& other : cores_)
      if (other->attached()) throw std::logic_error("tempfile::asio: the ring is attached already");
    std::erase_if(cores_, [](const auto& c) { return c.use_count() == 1; });  // done driving
    cores_.push_back(std::move(core));
  }

 private:
  void ring_closing() noexcept override {
    std::vector<std::shared_ptr<attachment_core>> cores;
    {
      const std::lock_guard lock(mutex_);
      cores.swap(cores_);
    }
    for (const auto& core : cores) core->ring_closing();
  }

  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<attachment_core>> cores_;
};

// ---- attachment_core ----

inline attachment_core::attachment_core(boost::asio::io_context& context, io_ring& ring)
    : ring_(&ring),
      context_(&context),
      executor_(context.get_executor()),
      ring_thread_(ring.owner()) {
  if (std::this_thread::get_id() != ring_thread_)
    throw std::logic_error("tempfile::asio: a ring_attachment is made on the ring's own thread");
  // Asio closes the descriptor it is given; the ring keeps its own.
  const int copy = ::fcntl(ring.poll_fd(), F_DUPFD_CLOEXEC, 0);
  if (copy < 0) throw std::system_error(errno, std::generic_category(), "fcntl(F_DUPFD_CLOEXEC)");
  readiness_.emplace(context, copy);
}

inline void attachment_core::start() {
  boost::asio::use_service<attachment_service>(
      static_cast<boost::asio::execution_context&>(*context_))
      .add(weak_from_this());
  boost::asio::post(executor_, [self = shared_from_this()] { self->arm(); });
}

inline void attachment_core::detach() {
  const std::lock_guard lock(mutex_);
  attached_ = false;
  if (idle()) stop_waiting();
}

inline bool attachment_core::add(operation_base& op) {
  const std::lock_guard lock(mutex_);
  if (!ring_ || !context_) return false;
  op.id_ = ++next_id_;
  op.prev_ = nullptr;
  op.next_ = operations_;
  if (operations_) operations_->prev_ = &op;
  operations_ = &op;
  return true;
}

inline void attachment_core::remove(operation_base& op) noexcept {
  const std::lock_guard lock(mutex_);
  if (op.id_ == 0) return;  // never added
  (op.prev_ ? op.prev_->next_ : operations_) = op.next_;
  if (op.next_) op.next_->prev_ = op.prev_;
  op.id_ = 0;
  if (idle()) stop_waiting();
}

inline bool attachment_core::run_on_ring(task<void> t) {
  const std::lock_guard lock(mutex_);
  if (!ring_) return false;
  if (std::this_thread::get_id() == ring_thread_)
    ring_->spawn(std::move(t));
  else
    ring_->post(std::move(t));
  return true;
}

inline task<void> attachment_core::cancel_operation(std::shared_ptr<attachment_core> core,
                                                    std::uint64_t id) {
  operation_base* target = nullptr;
  {
    const std::lock_guard lock(core->mutex_);
    for (operation_base* op = core->operations_; op; op = op->next_)
      if (op->id_ == id) target = op;
  }
  if (target) target->cancel();  // operations end on this thread only: it stays alive
  co_return;
}

inline void attachment_core::request_cancel(std::uint64_t id) noexcept {
  try {
    (void)run_on_ring(cancel_operation(shared_from_this(), id));
  } catch (...) {  // out of memory for the request: the task runs to its end instead
  }
}

inline void attachment_core::ring_closing() noexcept {
  const std::lock_guard lock(mutex_);
  ring_ = nullptr;
  stop_waiting();
}

inline void attachment_core::context_shutdown() noexcept {
  std::vector<operation_base*> running;
  {
    const std::lock_guard lock(mutex_);
    context_ = nullptr;
    readiness_.reset();  // its wait is destroyed with the context's other handlers
    for (operation_base* op = operations_; op; op = op->next_) running.push_back(op);
  }
  // Operations end on the ring's thread, which this is: they stay alive meanwhile.
  for (operation_base* op : running) {
    op->abandon_handler();
    // Nobody waits for the task any more: it ends, on the ring's thread, as cancelled.
    request_cancel(op->id_);
  }
}

inline void attachment_core::arm() {
  const std::lock_guard lock(mutex_);
  if (!readiness_ || !ring_ || idle()) return;
  readiness_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         [self = shared_from_this()](const boost::system::error_code& error) {
                           self->on_ready(error);
                         });
  executor_.on_work_finished();  // the wait is not work (see the class comment)
}

inline void attachment_core::on_ready(const boost::system::error_code& error) {
  executor_.on_work_started();  // given back when the wait started
  if (error) return;
  if (std::this_thread::get_id() != ring_thread_) {
    // Waiting again and signalling keeps the ring going from its own thread.
    arm();
    if (const std::lock_guard lock(mutex_); readiness_) (void)::eventfd_write(readiness_->native_handle(), 1);
    throw std::logic_error(
        "tempfile::asio: the io_context driving a ring was run from a thread other than the "
        "ring's own; give each thread its own io_context, io_ring and ring_attachment");
  }
  // Waiting again before polling: Asio's epoll reactor is edge-triggered, and poll may
  // signal the descriptor itself.
  arm();
  io_ring* ring;
  {
    const std::lock_guard lock(mutex_);
    ring = ring_;
  }
  if (ring) ring->poll();
}

inline void attachment_core::stop_waiting() noexcept {
  if (!readiness_ || !context_) return;
  boost::system::error_code ignored;
  readiness_->close(ignored);  // the pending wait completes with operation_aborted
}

}  // namespace tempfile::asio::detail
