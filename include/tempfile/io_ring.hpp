#pragma once
/// \file
/// `io_ring`: one io_uring and the event loop that drives coroutines over it.

#include <liburing.h>

#include <bitset>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <tempfile/detail/ring_op.hpp>
#include <tempfile/detail/ring_user.hpp>
#include <tempfile/ring_options.hpp>
#include <tempfile/task.hpp>
#include <tempfile/unique_fd.hpp>

namespace tempfile {
namespace detail {

class spawned_promise;
class ring_inbox;
class op_scope;

/// State a higher layer keeps per ring, made on first use by `io_ring::extension`.
/// Destroyed with the ring, after its detached tasks and before its in-flight ops drain.
class ring_extension {
 public:
  virtual ~ring_extension() = default;
  /// Called first thing in `~io_ring`, before any of its tasks is destroyed.
  virtual void ring_closing() noexcept {}
};

}  // namespace detail

/// Owns one io_uring and runs the coroutines that use it. One per thread: the ring belongs
/// to the thread that constructs it, and only `post` may be called from any other.
/// Everything issued while the runnable coroutines run reaches the kernel in one
/// `io_uring_enter`. The destructor returns only when no kernel op can touch user memory.
class io_ring {
 public:
  /// Throws `std::system_error` (ENOSYS, EPERM, …) naming the cause when io_uring is
  /// unavailable or lacks an opcode this library needs.
  explicit io_ring(ring_options options = {});
  ~io_ring();
  io_ring(const io_ring&) = delete;
  io_ring& operator=(const io_ring&) = delete;

  /// Starts a detached task on this ring at the next turn of the loop.
  void spawn(task<void> t);
  /// `spawn` from any thread: the ring's thread starts `t` at its next turn, woken whether
  /// it waits in `run`/`sync_wait` or in an outside loop on `poll_fd`. The ring must outlive
  /// the call; a task posted but not started when the ring is destroyed is destroyed.
  void post(task<void> t);
  /// The thread the ring belongs to.
  std::thread::id owner() const noexcept { return owner_; }
  /// Drives the loop until every spawned task has finished; rethrows the first exception
  /// a spawned task threw (the others still ran to completion).
  void run();

  /// Reschedules the awaiting coroutine after everything already runnable.
  detail::yield_op yield() noexcept { return detail::yield_op(*this); }

  /// One turn of the loop that never sleeps, for an outside event loop: submits what is
  /// queued, reaps what completed and resumes what became runnable. Returns how many
  /// coroutines it resumed; rethrows the first exception a spawned task threw, as `run`.
  /// Must not be called from a coroutine running on this ring. Called from another thread
  /// than the ring's, it throws `std::logic_error` and touches nothing.
  std::size_t poll();
  /// A descriptor (an eventfd, owned by the ring) that is readable whenever `poll` has
  /// work: a completion to reap (also under DEFER_TASKRUN, where the ring's own fd is not),
  /// a spawned or yielding coroutine to resume, or an op waiting for a free slot. `poll`
  /// consumes the readiness. The ring's thread only (`std::logic_error` otherwise).
  int poll_fd();

  /// Counters of submissions and completions since construction.
  const ring_stats& stats() const noexcept { return stats_; }
  /// Submission queue size the kernel granted.
  unsigned sq_entries() const noexcept { return ring_.sq.ring_entries; }
  /// Completion queue size: also the cap on operations in flight.
  unsigned cq_entries() const noexcept { return ring_.cq.ring_entries; }
  /// The `IORING_SETUP_*` flags the ring was created with.
  unsigned setup_flags() const noexcept { return ring_.flags; }
  /// The options the ring was constructed with.
  const ring_options& options() const noexcept { return options_; }
  /// Whether the kernel implements `opcode` (an `IORING_OP_*` value).
  bool supports(unsigned opcode) const noexcept {
    return opcode < supported_.size() && supported_[opcode];
  }
  /// The underlying liburing ring, for callers that issue their own requests.
  io_uring& native_handle() noexcept { return ring_; }

  /// Drives the loop until `until_done` is done, resuming it first if `resume_first`
  /// (used by `sync_wait`).
  void drive(std::coroutine_handle<> until_done, bool resume_first);

  /// This ring's `Extension` (derived from `detail::ring_extension`, constructible from
  /// `io_ring&`), made on first use. Any thread may look one up.
  template <class Extension>
  Extension& extension() {
    static constexpr char key = 0;  // one address per Extension type
    const std::lock_guard lock(extensions_mutex_);
    for (auto& [owner, state] : extensions_)
      if (owner == &key) return static_cast<Extension&>(*state);
    extensions_.emplace_back(&key, std::make_unique<Extension>(*this));
    return static_cast<Extension&>(*extensions_.back().second);
  }

 private:
  friend class detail::ring_op;
  friend class detail::linked_ops;
  friend class detail::spawned_promise;
  friend class detail::ring_user;
  friend class detail::op_scope;

  /// What the loop resumes next: a coroutine (yield, spawn), or the waiter of a completed op.
  struct ready_entry {
    std::coroutine_handle<> coroutine;
    detail::ring_op* op;
  };

  void configure_io_wq();
  void refuse_if_driven() const;
  /// Throws std::logic_error naming `call` unless on the ring's thread.
  void refuse_other_threads(const char* call) const;
  /// Submits the queued SQEs without waiting or reaping (see ring_user::submit_now).
  void submit_queued();
  /// Marks the ring driven (run, sync_wait, poll) for a scope; refuses a nested drive.
  class driving_scope {
   public:
    driving_scope(io_ring& ring, const char* call) : ring_(ring) {
      ring_.refuse_other_threads(call);
      ring_.refuse_if_driven();
      ring_.driving_ = true;
    }
    ~driving_scope() { ring_.driving_ = false; }
    driving_scope(const driving_scope&) = delete;
    driving_scope& operator=(const driving_scope&) = delete;

   private:
    io_ring& ring_;
  };
  template <class Done>
  void loop_until(const char* call, Done done);
  void run_ready();
  /// Spawns what other threads posted.
  void start_posted();
  void wait_for_progress();
  /// Keeps a poll of the inbox's wake descriptor in flight while the loop blocks.
  void arm_wake();
  void enqueue(detail::ring_op& op) noexcept {
    op.scope_ = current_scope_;
    if (op.follower_)
      op.for_each_in_chain([this](detail::ring_op& link) { link.scope_ = current_scope_; });
    if (backlog_.empty() && try_place(op)) return;
    op.for_each_in_chain(
        [](detail::ring_op& link) { link.stage_ = detail::ring_op::stage::backlogged; });
    backlog_.push_back(op);
    ++stats_.backlogged;
  }
  bool try_place(detail::ring_op& op) noexcept {
    if (op.follower_) return try_place_linked(op);
    // Capping ops in flight at the CQ size means the kernel never has to overflow the CQ.
    if (in_flight_ >= max_in_flight_) return false;
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) return false;
    place(op, *sqe);
    count_in_flight(op);
    return true;
  }
  void count_in_flight(detail::ring_op& placed) noexcept;
  /// Leaves the op its ring and scope count as in flight (for a chain, its first).
  void count_reaped(detail::ring_op& placed) noexcept;
  static void place(detail::ring_op& op, io_uring_sqe& sqe) noexcept {
    if (op.injected_error_)
      prepare_injected_failure(op, sqe);
    else
      op.prepare_(op, sqe);
    io_uring_sqe_set_data(&sqe, &op);
    op.stage_ = detail::ring_op::stage::in_flight;
  }
  static void prepare_injected_failure(const detail::ring_op& op, io_uring_sqe& sqe) noexcept;
  bool try_place_linked(detail::ring_op& leader) noexcept;
  void complete_linked(detail::ring_op& op) noexcept;
  void fill_from_backlog();
  void enter(unsigned wait_for);
  void reap();
  io_uring_sqe* internal_sqe();
  void abandon(detail::ring_op& op) noexcept;
  /// Cancels `first` and the ops linked after it (null: none); results come as CQEs.
  void cancel_from(detail::ring_op* first) noexcept;
  void cancel_all_and_drain() noexcept;
  void signal_poll_fd() noexcept;  // poll_fd becomes readable, if there is one

  io_uring ring_{};
  ring_options options_;
  std::bitset<128> supported_;
  unsigned max_in_flight_ = 0;  // CQ size
  unsigned in_flight_ = 0;      // ops the kernel owns (the wake poll aside)
  bool detaching_ = false;      // the ring is going away: reaped ops are cut loose
  detail::op_list backlog_;     // waiting for a free SQE or CQ slot, FIFO
  std::vector<ready_entry> ready_;
  std::vector<ready_entry> resuming_;
  detail::spawned_promise* spawned_ = nullptr;  // intrusive list of live detached tasks
  detail::ring_user* users_ = nullptr;          // intrusive list of attached files
  std::exception_ptr spawned_error_;
  bool driving_ = false;
  ring_stats stats_;
  std::mutex extensions_mutex_;
  std::vector<std::pair<const void*, std::unique_ptr<detail::ring_extension>>> extensions_;
  unique_fd poll_signal_;  // poll_fd: an eventfd registered with the ring
  std::thread::id owner_ = std::this_thread::get_id();
  std::unique_ptr<detail::ring_inbox> inbox_;  // tasks posted from other threads
  bool wake_armed_ = false;                    // a poll of the inbox's wake fd is in flight
  unsigned internal_sqes_ = 0;  // queued SQEs that are the ring's own (not counted in stats)
  detail::op_scope* current_scope_ = nullptr;  // of the coroutine running now
};

inline void detail::ring_op::await_suspend(std::coroutine_handle<> waiting) noexcept {
  waiting_ = waiting;
  ring_->enqueue(*this);
}

inline void detail::ring_op::wait_outside_kernel(std::coroutine_handle<> waiting) noexcept {
  waiting_ = waiting;
  scope_ = ring_->current_scope_;
}

inline void detail::ring_op::complete_outside_kernel(int result) noexcept {
  result_ = result;
  stage_ = stage::completed;
  ring_->ready_.push_back({{}, this});
}

inline void detail::yield_op::await_suspend(std::coroutine_handle<> waiting) noexcept {
  wait_outside_kernel(waiting);
  complete_outside_kernel(0);
}

inline void detail::linked_ops::await_suspend(std::coroutine_handle<> waiting) noexcept {
  last_->waiting_ = waiting;  // the last op resumes the chain; the others resume nobody
  first_.ring_->enqueue(first_);
}

namespace detail {

struct spawned_task {
  using promise_type = spawned_promise;
  std::coroutine_handle<spawned_promise> handle;
};

/// Promise of a detached task: links itself into its ring while alive, so the ring can
/// destroy what is still suspended when it goes away.
class spawned_promise : public recycled_frame {
 public:
  spawned_promise(io_ring& ring, task<void>&) noexcept;
  ~spawned_promise();
  spawned_task get_return_object() noexcept;
  std::suspend_always initial_suspend() const noexcept { return {}; }
  std::suspend_never final_suspend() const noexcept { return {}; }
  void return_void() const noexcept {}
  void unhandled_exception() noexcept;

 private:
  friend class tempfile::io_ring;
  io_ring& ring_;
  spawned_promise* prev_ = nullptr;
  spawned_promise* next_ = nullptr;
};

}  // namespace detail

/// Drives `ring` until `t` finishes; returns its value or rethrows its exception.
/// Must not be called from a coroutine running on the same ring.
template <class T>
T sync_wait(io_ring& ring, task<T> t) {
  const bool resume_first = detail::task_access::claim_start(t);
  ring.drive(detail::task_access::handle(t), resume_first);
  return detail::task_access::take(t);
}

}  // namespace tempfile
