// io_ring's completions: CQEs reaped, chains completed, ops abandoned, the wake poll.
#include <tempfile/io_ring.hpp>

#include <poll.h>

#include <cerrno>

#include <tempfile/detail/op_scope.hpp>

#include "ring_inbox.hpp"

namespace tempfile {
namespace {

// The user_data of the poll that wakes a blocked ring when a task is posted.
constexpr char wake_tag = 0;

}  // namespace

void io_ring::arm_wake() {
  if (wake_armed_) return;
  io_uring_sqe* sqe = internal_sqe();
  io_uring_prep_poll_add(sqe, inbox_->wake_fd(), POLLIN);
  io_uring_sqe_set_data(sqe, const_cast<char*>(&wake_tag));
  wake_armed_ = true;
  ++internal_sqes_;
}

void io_ring::count_reaped(detail::ring_op& placed) noexcept {
  in_flight_ -= placed.chain_completions();
  if (detail::op_scope* scope = placed.scope_) {
    scope->in_flight_.erase(placed);
    if (scope->cancelled_ && scope->in_flight_.empty() && scope->on_drained_)
      ready_.push_back({std::exchange(scope->on_drained_, {}), nullptr});
  }
}

void io_ring::complete_linked(detail::ring_op& op) noexcept {
  // Only the first op that fails (or falls short) posts, or else the last: the ops before
  // `op` completed fully (their preset results stand), those after it never ran.
  detail::ring_op& leader = op.chain_head();
  bool after = false;
  leader.for_each_in_chain([&](detail::ring_op& link) {
    if (after) link.result_ = -ECANCELED;
    if (&link == &op) after = true;
    link.stage_ = detail::ring_op::stage::completed;
  });
  detail::ring_op& resumer = leader.chain_tail();
  if (resumer.waiting_) {
    ready_.push_back({{}, &resumer});
  } else {  // abandoned: nobody will resume the chain
    leader.for_each_in_chain([](detail::ring_op& link) { link.discard_result(); });
  }
}

void io_ring::reap() {
  unsigned head;
  unsigned seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    void* data = io_uring_cqe_get_data(cqe);
    if (data == &wake_tag) {  // something was posted: start_posted takes it
      wake_armed_ = false;
      inbox_->consume_wake();
      continue;
    }
    auto* op = static_cast<detail::ring_op*>(data);
    if (!op) continue;  // the library's own cancellations
    op->result_ = cqe->res;
    if (op->reports_) {  // its chain goes on: the last op's CQE ends it
      // Cancelled, the chain may have started an op after the cancellation was issued.
      const bool cancelled = detaching_ || !op->chain_tail().waiting_ ||
                             (op->scope_ && op->scope_->cancelled_);
      if (cancelled) cancel_from(op->follower_);
      continue;
    }
    count_reaped(op->chain_head());
    if (detaching_) {  // the ring is going away: the awaiter must never call back
      op->chain_head().for_each_in_chain([](detail::ring_op& cut) {
        cut.ring_ = nullptr;
        cut.waiting_ = {};
      });
    }
    if (op->leader_ || op->follower_) {
      complete_linked(*op);
      continue;
    }
    if (op->waiting_) {
      op->stage_ = detail::ring_op::stage::completed;
      ready_.push_back({{}, op});
    } else {
      op->discard_result();  // abandoned: nobody will resume it
    }
  }
  io_uring_cq_advance(&ring_, seen);
  stats_.completed += seen;
}

void io_ring::cancel_from(detail::ring_op* first) noexcept {
  for (detail::ring_op* link = first; link; link = link->follower_) {
    io_uring_sqe* cancel = internal_sqe();
    io_uring_prep_cancel64(cancel, reinterpret_cast<std::uint64_t>(link), 0);
    io_uring_sqe_set_data(cancel, nullptr);
  }
}

void io_ring::abandon(detail::ring_op& op) noexcept {
  // `op` is a single op or a chain's first; the loop resumes `resumer`'s waiter.
  using stage = detail::ring_op::stage;
  detail::ring_op& resumer = op.chain_tail();
  resumer.waiting_ = {};
  switch (op.stage_) {
    case stage::backlogged:  // a chain's followers were never placed
      backlog_.erase(op);
      break;
    case stage::completed:  // queued for resumption: drop the entry
      for (auto* queue : {&ready_, &resuming_})
        for (ready_entry& entry : *queue)
          if (entry.op == &resumer) entry = {};
      break;
    case stage::held:  // its scope was cancelled: nobody will resume it
      op.scope_->held_.erase(op);
      break;
    case stage::in_flight:
      // The kernel may still write into the op's buffers: cancel, then wait it out. In a
      // chain, whichever op is running is cancelled, which fails the rest; one the kernel
      // cannot interrupt is near its CQE. Reaping the CQE with no waiter discards the results.
      cancel_from(&op);
      while (op.stage_ == stage::in_flight) {
        enter(1);
        reap();
      }
      break;
    case stage::prepared:
    case stage::consumed:
      break;
  }
  op.for_each_in_chain([](detail::ring_op& link) {
    if (link.stage_ != stage::consumed) link.discard_result();  // closes a won fd
  });
}

}  // namespace tempfile
