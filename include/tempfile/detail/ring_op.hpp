#pragma once
/// \file
/// `detail::ring_op`: one io_uring request awaited by a coroutine; linked chains and yields.

#include <liburing.h>

#include <cerrno>
#include <coroutine>
#include <utility>

#include <tempfile/unique_fd.hpp>

namespace tempfile {

class io_ring;

namespace detail {

class op_scope;

/// One io_uring request. It lives inside the awaiter (so inside the awaiting coroutine's
/// frame): no allocation per operation. The op keeps its arguments and prepares its SQE
/// straight into the submission queue when a slot is free, so it can wait in a backlog
/// when the SQ is full or the CQ could overflow. If the awaiter is destroyed while the
/// kernel still owns the request, the destructor cancels it and waits for its completion,
/// so neither the op state nor the buffers it names are ever touched after they are gone.
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
  /// For an op that never reaches the kernel (a yield, a wait on work another task does):
  /// `waiting` is resumed once `complete_outside_kernel` is called, in the scope current now.
  void wait_outside_kernel(std::coroutine_handle<> waiting) noexcept;
  /// Completes such an op with `result` as the kernel would: its coroutine is queued to
  /// resume (held instead, should its scope be cancelled).
  void complete_outside_kernel(int result) noexcept;
  /// The CQE's result; marks the op consumed (called from the derived await_resume).
  int take_result() noexcept {
    stage_ = stage::consumed;
    return result_;
  }

 private:
  friend class tempfile::io_ring;
  friend class op_list;
  friend class linked_ops;
  friend class op_scope;
  friend void fail_in_kernel(ring_op& op, int error) noexcept;
  friend void undo_success(ring_op& op) noexcept;
  // completed: reaped, the waiting coroutine queued but not yet resumed (a linked chain
  // queues its last op's). held: completed (or never placed) in a cancelled scope, whose
  // coroutines are not resumed.
  enum class stage : unsigned char { prepared, backlogged, in_flight, completed, held, consumed };

  void discard_result() noexcept;
  /// The first op of this op's chain (itself when single), and the last (which resumes).
  ring_op& chain_head() noexcept { return leader_ ? *leader_ : *this; }
  ring_op& chain_tail() noexcept {
    ring_op* op = this;
    while (op->follower_) op = op->follower_;
    return *op;
  }
  /// Calls `f` on every op of the chain that starts with this op, in order.
  template <class F>
  void for_each_in_chain(F f) noexcept {
    for (ring_op* op = this; op;) {
      ring_op* next = op->follower_;
      f(*op);
      op = next;
    }
  }
  unsigned chain_length() noexcept {
    unsigned n = 0;
    for_each_in_chain([&n](ring_op&) { ++n; });
    return n;
  }
  /// The most CQEs the chain that starts with this op can post: the last op's, and one for
  /// each op placed to report on its own (see `linked_ops::add_after_any`).
  unsigned chain_completions() noexcept {
    unsigned n = 1;
    bool reporting = false;
    for_each_in_chain([&](ring_op& op) {
      reporting = reporting || op.goes_on_after_failure_;
      if (reporting && op.follower_) ++n;
    });
    return n;
  }

  io_ring* ring_;  // null once the ring is gone
  prepare_fn prepare_;
  std::coroutine_handle<> waiting_;
  int result_ = -ECANCELED;  // until a CQE says otherwise: an op that never ran
  stage stage_ = stage::prepared;
  bool result_is_fd_ = false;
  unsigned char injected_error_ = 0;  // for tests: the kernel fails the op with this errno
  // In a chain: the op after this one runs whatever this one's result (linked_ops::add_after_any).
  bool goes_on_after_failure_ = false;
  // Placed in a chain without IOSQE_CQE_SKIP_SUCCESS: posts a CQE of its own that does not
  // end the chain (the last op's does).
  bool reports_ = false;
  undo_fn undo_ = nullptr;
  unique_fd* closes_ = nullptr;
  op_scope* scope_ = nullptr;  // the task tree that issued it, if it is one's
  ring_op* prev_ = nullptr;    // links in the ring's backlog, or in its scope's lists
  ring_op* next_ = nullptr;
  // A linked chain (see linked_ops): each op's SQE is placed right before its follower's;
  // only the chain's first op (every other op's leader) enters the backlog and the lists;
  // all complete with the chain's CQE.
  ring_op* follower_ = nullptr;
  ring_op* leader_ = nullptr;
};

/// For tests: the kernel fails `op` with `error` instead of running it (a NOP with an
/// injected result, Linux 6.10+): a chain breaks at `op` as it would on a real failure.
void fail_in_kernel(ring_op& op, int error) noexcept;

/// Undoes what `op`, completed and consumed, did if it succeeded (removes the name it
/// created; see `ring_op::set_undo`): for a result taken before the step that completes
/// the call is done, should the call be abandoned in between.
void undo_success(ring_op& op) noexcept;

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

/// Ops submitted as one IOSQE_IO_LINK chain: each runs only if the one before completed
/// fully (for a read or write, a short count breaks the chain too), or, added with
/// `add_after_any`, whatever the one before did. Only some ops break a chain when they fail
/// (reads, writes, opens, closes); a failed fsync, linkat, renameat or unlinkat lets it go
/// on, so such an op may come before another only through `add_after_any` (checked in debug
/// builds). The ops up to the first such one carry IOSQE_CQE_SKIP_SUCCESS: the first of them
/// to fail posts the chain's only CQE (the kernel then skips the rest's). From that op on
/// none does (a failure under that flag would post nothing where the chain goes on): each
/// posts its own CQE, results only, and the last op's, always posted and always last, ends
/// the chain. Either way the coroutine is woken once. Once resumed, an op that completed
/// fully holds the result it was added with or its own CQE's, the failing one its own, and
/// those that never ran -ECANCELED; each op's own `await_resume` reads it. Destroyed while
/// the kernel owns the chain, it cancels it and waits for that CQE, like a ring_op. The
/// ring's SQ holds `max_chain` SQEs, so a chain is at most that long.
class [[nodiscard]] linked_ops {
 public:
  static constexpr unsigned max_chain = 4;

  explicit linked_ops(ring_op& first) noexcept : first_(first), last_(&first) {}
  /// A pair: `second` runs once `first` completed with `first_success`.
  linked_ops(ring_op& first, int first_success, ring_op& second) noexcept : linked_ops(first) {
    add(first_success, second);
  }
  linked_ops(const linked_ops&) = delete;
  linked_ops& operator=(const linked_ops&) = delete;
  ~linked_ops();

  /// Appends `next`, which runs once the chain's last op so far completed with
  /// `previous_success` (what that op reads then).
  void add(int previous_success, ring_op& next) noexcept {
    last_->follower_ = &next;
    last_->result_ = previous_success;
    next.leader_ = &first_;
    last_ = &next;
  }
  /// Appends `next`, which runs once the chain's last op so far completed, whatever its
  /// result: for an op whose failure does not break a chain (an fsync, a linkat …) when
  /// what follows should run anyway. That op's result comes from its own CQE.
  void add_after_any(ring_op& next) noexcept {
    last_->goes_on_after_failure_ = true;
    add(-ECANCELED, next);
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> waiting) noexcept;
  /// Every op's result is settled: read each through the op (or `result`).
  void await_resume() noexcept {
    first_.for_each_in_chain([](ring_op& op) { op.stage_ = ring_op::stage::consumed; });
  }
  /// The raw result of `op`, an op of this chain (negative errno; -ECANCELED if it never ran).
  static int result(const ring_op& op) noexcept { return op.result_; }

 private:
  ring_op& first_;
  ring_op* last_;
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

}  // namespace detail
}  // namespace tempfile
