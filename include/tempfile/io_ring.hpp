#pragma once
/// \file
/// `io_ring`: one io_uring and the event loop that drives coroutines over it.

#include <liburing.h>

#include <bitset>
#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include <tempfile/task.hpp>
#include <tempfile/unique_fd.hpp>

namespace tempfile {

/// How an `io_ring` is set up. Fields after `sqpoll` are extensions with measured defaults.
/// io-wq belongs to the thread, not the ring: `max_workers` and `pin_workers` apply to every
/// ring the constructing thread uses, as the last ring constructed on it set them.
struct ring_options {
  unsigned entries = 256;    ///< submission queue size (at least 2, rounded up to a power of two)
  /// io-wq worker cap per kind; 0: the CQ size, the most ops this ring keeps in flight.
  /// Blocking ops (fsync, O_CREAT opens, unlinks) each hold a worker while they wait: with
  /// a cap of the CPU count only two fsyncs were ever in flight here, and a journal
  /// cannot batch what it never sees. Measured on a journaled ext4 image (bench/README.md,
  /// "Durable publishing"), 128 durable publishes in flight: 290/s with a cap of 2, 2.1 k/s
  /// with 8 (the kernel's own cap here), 6.4 k/s with the CQ size (1.56x a pool of 128
  /// threads); creates at 64 in flight unchanged. Idle workers exit on their own.
  unsigned max_workers = 0;
  bool sqpoll = false;       ///< kernel thread polls the SQ (excludes DEFER_TASKRUN)
  unsigned cq_entries = 0;   ///< completion queue size; 0: twice `entries`
  /// IORING_SETUP_DEFER_TASKRUN when the kernel has it: measured 9-12 % faster NOPs at
  /// queue depth 1 and 4-6 % less CPU per created file (bench/README.md).
  bool defer_taskrun = true;
  /// Keep io-wq workers on the CPU the constructing thread runs on. Blocking ops (O_CREAT
  /// opens, unlinks, buffered writes) run on io-wq workers; pinned, they share the
  /// submitter's CPU and cannot run in parallel with it. Off by default: measured, pinning
  /// left one-at-a-time creation unchanged and made directory cleanup 1.5x slower
  /// (bench/README.md).
  bool pin_workers = false;
  /// `O_TMPFILE` files `temporary_file::create` keeps opened ahead, per directory (0: none,
  /// the default). An io_uring `O_TMPFILE` open always waits for an io-wq worker; with a
  /// reserve, the ring opens files in batches in the background and a create takes one at
  /// once: measured 2x faster one file at a time, but 0.8x at 8 files in flight
  /// (bench/README.md). It holds up to this many descriptors for each of up to four
  /// directories while the ring lives, and a file from it was created when its batch was
  /// opened (a directory removed since still yields the files already opened there).
  unsigned unnamed_file_reserve = 0;
  /// Apply `max_workers` and `pin_workers` to the thread's io-wq. False leaves the thread's
  /// settings as they are: for a short-lived ring beside the application's own, such as
  /// the one a `temporary_directory` destructor removes its tree with.
  bool configure_io_wq = true;
};

class io_ring;

namespace detail {

/// One io_uring request. It lives inside the awaiter (so inside the awaiting coroutine's
/// frame): no allocation per operation. The op keeps its arguments and prepares its SQE
/// straight into the submission queue when a slot is free, so it can wait in a backlog
/// when the SQ is full or the CQ could overflow. If the awaiter is destroyed while the kernel still owns the
/// request, the destructor cancels it and waits for its completion, so neither the op
/// state nor the buffers it names are ever touched after they are gone.
class ring_op {
 public:
  ring_op(const ring_op&) = delete;
  ring_op& operator=(const ring_op&) = delete;

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> waiting) noexcept;

 protected:
  /// Fills a free SQE (user_data is the ring's). Called once, when the op is placed.
  using prepare_fn = void (*)(ring_op& self, io_uring_sqe& sqe) noexcept;

  ring_op(io_ring& ring, prepare_fn prepare) noexcept : ring_(&ring), prepare_(prepare) {}
  ~ring_op();

  /// The result is a new descriptor: closed if nobody is left to take it.
  void set_result_is_fd() noexcept { result_is_fd_ = true; }
  /// Undoes what a successful op did when nobody is left to see its result (removes the
  /// name it created). Runs while the op, and what its awaiting frame holds, still exist.
  using undo_fn = void (*)(ring_op& self) noexcept;
  void set_undo(undo_fn undo) noexcept { undo_ = undo; }
  /// The op closes `owner`'s descriptor: if it ran and nobody is left to see its result,
  /// `owner` is told (released) so the descriptor is never closed twice.
  void set_closes(unique_fd& owner) noexcept { closes_ = &owner; }
  /// The CQE's result; marks the op consumed (called from the derived await_resume).
  int take_result() noexcept {
    stage_ = stage::consumed;
    return result_;
  }

 private:
  friend class tempfile::io_ring;
  friend class op_list;
  friend class linked_ops;
  friend class yield_op;
  // completed: reaped, the waiting coroutine queued but not yet resumed (a linked pair
  // queues its follower's).
  enum class stage : unsigned char { prepared, backlogged, in_flight, completed, consumed };

  void discard_result() noexcept;

  io_ring* ring_;  // null once the ring is gone
  prepare_fn prepare_;
  std::coroutine_handle<> waiting_;
  int result_ = -ECANCELED;  // until a CQE says otherwise: an op that never ran
  stage stage_ = stage::prepared;
  bool result_is_fd_ = false;
  undo_fn undo_ = nullptr;
  unique_fd* closes_ = nullptr;
  ring_op* prev_ = nullptr;  // links in the ring's backlog
  ring_op* next_ = nullptr;
  // A linked pair (see linked_ops): the leader's SQE is placed right before its
  // follower's; only the leader enters the backlog; both complete with the pair's CQE.
  ring_op* follower_ = nullptr;
  ring_op* leader_ = nullptr;
};

/// Intrusive list of ring_ops (the ring never allocates per op).
class op_list {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  ring_op* front() const noexcept { return head_; }
  void push_back(ring_op& op) noexcept {
    op.prev_ = tail_;
    op.next_ = nullptr;
    (tail_ ? tail_->next_ : head_) = &op;
    tail_ = &op;
  }
  void erase(ring_op& op) noexcept {
    (op.prev_ ? op.prev_->next_ : head_) = op.next_;
    (op.next_ ? op.next_->prev_ : tail_) = op.prev_;
    op.prev_ = op.next_ = nullptr;
  }
  ring_op* pop_front() noexcept {
    ring_op* op = head_;
    if (op) erase(*op);
    return op;
  }
  template <class F>
  void for_each(F f) const {
    for (ring_op* op = head_; op;) {
      ring_op* next = op->next_;
      f(*op);
      op = next;
    }
  }

 private:
  ring_op* head_ = nullptr;
  ring_op* tail_ = nullptr;
};

/// Two ops submitted as one IOSQE_IO_LINK chain: the second runs only if the first
/// completes fully (for a read or write, a short count fails the chain too). The first
/// carries IOSQE_CQE_SKIP_SUCCESS, so the pair posts one CQE and wakes its coroutine once:
/// the first's when it fails (the kernel then skips the second's), else the second's, and
/// the first's result is `first_success`. Destroyed while the kernel owns the chain, it
/// cancels it and waits for that CQE, like a ring_op.
class [[nodiscard]] linked_ops {
 public:
  linked_ops(ring_op& first, int first_success, ring_op& second) noexcept
      : first_(first), second_(second) {
    first_.follower_ = &second_;
    first_.result_ = first_success;
    second_.leader_ = &first_;
  }
  linked_ops(const linked_ops&) = delete;
  linked_ops& operator=(const linked_ops&) = delete;
  ~linked_ops();

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> waiting) noexcept;
  /// Both raw CQE results (negative errno; the second's is -ECANCELED when it never ran).
  std::pair<int, int> await_resume() noexcept {
    return {first_.take_result(), second_.take_result()};
  }

 private:
  ring_op& first_;
  ring_op& second_;
};

class spawned_promise;

/// Something that uses a ring between operations: a file. The ring tells each user it still
/// has when it is destroyed first, while it still works, so the user can finish with it
/// (wait out its operations, write back what it buffers); the user is detached afterwards
/// and `attached_ring()` is null.
class ring_user {
 public:
  ring_user(const ring_user&) = delete;
  ring_user& operator=(const ring_user&) = delete;

 protected:
  /// What the user does when the ring goes first, called from `~io_ring` before its
  /// operations are cancelled (null: nothing). A function, not a virtual: files stay
  /// free of vtables.
  using ring_destroyed_fn = void (*)(ring_user& self) noexcept;

  ring_user(io_ring* ring, ring_destroyed_fn on_ring_destroyed) noexcept
      : on_ring_destroyed_(on_ring_destroyed) {
    attach(ring);
  }
  ~ring_user() { detach(); }
  io_ring* attached_ring() const noexcept { return ring_; }
  /// Hands what is queued to the kernel now, without waiting, for work started in the
  /// background (a write-behind): the loop would submit it only when its coroutines next
  /// wait, and a writer that keeps filling its next buffer would never let it run meanwhile.
  void submit_now() const;
  /// Exchanges the rings the two users are attached to (for move operations).
  void swap_rings(ring_user& other) noexcept;

 private:
  friend class tempfile::io_ring;
  void attach(io_ring* ring) noexcept;
  void detach() noexcept;

  io_ring* ring_ = nullptr;
  ring_destroyed_fn on_ring_destroyed_;
  ring_user* prev_ = nullptr;  // the ring's intrusive list of users
  ring_user* next_ = nullptr;
};

/// The awaiter of `io_ring::yield`: an op that never reaches the kernel, queued as already
/// completed. So, like any completed op, destroying its coroutine while it waits drops the
/// queue entry, and a ring destroyed first cuts it loose.
class yield_op : public ring_op {
 public:
  explicit yield_op(io_ring& ring) noexcept : ring_op(ring, nullptr) {}
  void await_suspend(std::coroutine_handle<> waiting) noexcept;
  void await_resume() noexcept { (void)take_result(); }
};

/// For tests: rings constructed on this thread act as if the kernel lacked the feature
/// `name` (as `io_ring`'s error names it); an empty name ends the simulation.
void simulate_missing_ring_feature(std::string_view name) noexcept;

/// State a higher layer keeps per ring, made on first use by `io_ring::extension`.
/// Destroyed with the ring, after its detached tasks and before its in-flight ops drain.
class ring_extension {
 public:
  virtual ~ring_extension() = default;
};

}  // namespace detail

/// Counters of what the ring did: for tests and benchmarks (batching is observable here).
struct ring_stats {
  std::uint64_t enters = 0;     ///< io_uring_enter system calls
  std::uint64_t submitted = 0;  ///< SQEs handed to the kernel
  std::uint64_t largest_submit = 0;  ///< most SQEs handed to the kernel by one io_uring_enter
  std::uint64_t completed = 0;  ///< CQEs reaped (a linked write + close posts one for two SQEs)
  std::uint64_t backlogged = 0; ///< ops that waited for a free SQ/CQ slot
};

/// Owns one io_uring and runs the coroutines that use it. One per thread; not thread-safe.
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
  /// Drives the loop until every spawned task has finished; rethrows the first exception
  /// a spawned task threw (the others still ran to completion).
  void run();

  /// Reschedules the awaiting coroutine after everything already runnable.
  detail::yield_op yield() noexcept { return detail::yield_op(*this); }

  /// One turn of the loop that never sleeps, for an outside event loop: submits what is
  /// queued, reaps what completed and resumes what became runnable. Returns how many
  /// coroutines it resumed; rethrows the first exception a spawned task threw, as `run`.
  /// Must not be called from a coroutine running on this ring.
  std::size_t poll();
  /// A descriptor (an eventfd, owned by the ring) that is readable whenever `poll` has
  /// work: a completion to reap (also under DEFER_TASKRUN, where the ring's own fd is not),
  /// a spawned or yielding coroutine to resume, or an op waiting for a free slot. `poll`
  /// consumes the readiness.
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
  /// `io_ring&`), made on first use.
  template <class Extension>
  Extension& extension() {
    static constexpr char key = 0;  // one address per Extension type
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
  friend class detail::yield_op;

  /// What the loop resumes next: a coroutine (yield, spawn), or the waiter of a completed op.
  struct ready_entry {
    std::coroutine_handle<> coroutine;
    detail::ring_op* op;
  };

  void configure_io_wq();
  void refuse_if_driven() const;
  /// Submits the queued SQEs without waiting or reaping (see ring_user::submit_now).
  void submit_queued();
  /// Marks the ring driven (run, sync_wait, poll) for a scope; refuses a nested drive.
  class driving_scope {
   public:
    explicit driving_scope(io_ring& ring) : ring_(ring) {
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
  void loop_until(Done done);
  void run_ready();
  void wait_for_progress();
  void enqueue(detail::ring_op& op) noexcept {
    if (backlog_.empty() && try_place(op)) return;
    op.stage_ = detail::ring_op::stage::backlogged;
    if (op.follower_) op.follower_->stage_ = detail::ring_op::stage::backlogged;
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
    ++in_flight_;
    return true;
  }
  static void place(detail::ring_op& op, io_uring_sqe& sqe) noexcept {
    op.prepare_(op, sqe);
    io_uring_sqe_set_data(&sqe, &op);
    op.stage_ = detail::ring_op::stage::in_flight;
  }
  bool try_place_linked(detail::ring_op& leader) noexcept;
  void complete_linked(detail::ring_op& op) noexcept;
  void fill_from_backlog();
  void enter(unsigned wait_for);
  void reap();
  io_uring_sqe* internal_sqe();
  void abandon(detail::ring_op& op) noexcept;
  void cancel_all_and_drain() noexcept;
  void signal_poll_fd() noexcept;  // poll_fd becomes readable, if there is one

  io_uring ring_{};
  ring_options options_;
  std::bitset<128> supported_;
  unsigned max_in_flight_ = 0;  // CQ size
  unsigned in_flight_ = 0;      // ops the kernel owns
  bool detaching_ = false;      // the ring is going away: reaped ops are cut loose
  detail::op_list backlog_;     // waiting for a free SQE or CQ slot, FIFO
  std::vector<ready_entry> ready_;
  std::vector<ready_entry> resuming_;
  detail::spawned_promise* spawned_ = nullptr;  // intrusive list of live detached tasks
  detail::ring_user* users_ = nullptr;          // intrusive list of attached files
  std::exception_ptr spawned_error_;
  bool driving_ = false;
  ring_stats stats_;
  std::vector<std::pair<const void*, std::unique_ptr<detail::ring_extension>>> extensions_;
  unique_fd poll_signal_;  // poll_fd: an eventfd registered with the ring
};

inline void detail::ring_op::await_suspend(std::coroutine_handle<> waiting) noexcept {
  waiting_ = waiting;
  ring_->enqueue(*this);
}

inline void detail::yield_op::await_suspend(std::coroutine_handle<> waiting) noexcept {
  waiting_ = waiting;
  stage_ = stage::completed;
  ring_->ready_.push_back({{}, this});
}

inline void detail::linked_ops::await_suspend(std::coroutine_handle<> waiting) noexcept {
  second_.waiting_ = waiting;  // the follower resumes the pair; the leader resumes nobody
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
