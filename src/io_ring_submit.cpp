// io_ring's submissions: ops and linked chains placed as SQEs, the backlog, io_uring_enter.
#include <tempfile/io_ring.hpp>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <system_error>

#include <tempfile/detail/op_scope.hpp>

#include "test_hooks.hpp"

namespace tempfile {
namespace {

struct simulated_failure {
  unsigned opcode;
  int error;
};

thread_local simulated_failure simulated_chain_failure{};

// IORING_NOP_INJECT_RESULT (Linux 6.10; newer than liburing 2.3's headers).
constexpr unsigned nop_inject_result = 1u << 0;

/// Whether a failure of `opcode` breaks the chain it leads, so that the ops linked after it
/// never run and post no completion. Measured on Linux 6.18 (and pinned by tests): reads,
/// writes, opens and closes do; fsync, linkat, renameat, unlinkat, mkdirat and statx do
/// not: the chain goes on, and the failure posts a completion of its own, but none at all
/// under IOSQE_CQE_SKIP_SUCCESS.
[[maybe_unused]] bool fails_its_chain(unsigned opcode) noexcept {
  switch (opcode) {
    case IORING_OP_NOP:
    case IORING_OP_READ:
    case IORING_OP_WRITE:
    case IORING_OP_OPENAT:
    case IORING_OP_CLOSE:
      return true;
    default:
      return false;
  }
}

}  // namespace

namespace detail {

void simulate_chain_failure(unsigned opcode, int error) noexcept {
  simulated_chain_failure.opcode = opcode;
  simulated_chain_failure.error = error;
}

}  // namespace detail

void io_ring::fill_from_backlog() {
  while (!backlog_.empty() &&
         in_flight_ + backlog_.front()->chain_completions() <= max_in_flight_) {
    const unsigned sqes = backlog_.front()->chain_length();
    if (io_uring_sq_space_left(&ring_) < sqes) {
      enter(0);  // SQ full: hand it to the kernel and go on filling
      if (io_uring_sq_space_left(&ring_) < sqes) return;
    }
    [[maybe_unused]] const bool placed = try_place(*backlog_.pop_front());
    assert(placed);  // free SQEs and CQ room were checked above
  }
}

bool io_ring::try_place_linked(detail::ring_op& leader) noexcept {
  // Every SQE goes into the same submission, or the link would dangle at its end. The
  // chain takes a CQ slot for each CQE it may post (see linked_ops); the CQ always has them.
  assert(leader.chain_completions() <= max_in_flight_);
  if (in_flight_ + leader.chain_completions() > max_in_flight_ ||
      io_uring_sq_space_left(&ring_) < leader.chain_length())
    return false;
  const simulated_failure simulated = simulated_chain_failure;
  bool reporting = false;
  leader.for_each_in_chain([&](detail::ring_op& link) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    place(link, *sqe);
#ifndef NDEBUG
    // An op whose failure lets the chain go on comes before another only where that one
    // must run anyway: else it would run after a failure its chain was meant to stop at.
    io_uring_sqe real{};
    link.prepare_(link, real);
    assert(!link.follower_ || fails_its_chain(real.opcode) || link.goes_on_after_failure_);
#endif
    if (simulated.error != 0 && sqe->opcode == simulated.opcode) {
      detail::fail_in_kernel(link, simulated.error);
      prepare_injected_failure(link, *sqe);
    }
    reporting = reporting || link.goes_on_after_failure_;
    link.reports_ = reporting && link.follower_;
    if (link.follower_)
      sqe->flags |= IOSQE_IO_LINK | (link.reports_ ? 0 : IOSQE_CQE_SKIP_SUCCESS);
  });
  count_in_flight(leader);
  return true;
}

void io_ring::prepare_injected_failure(const detail::ring_op& op, io_uring_sqe& sqe) noexcept {
  io_uring_prep_nop(&sqe);
  sqe.rw_flags = static_cast<int>(nop_inject_result);
  sqe.len = static_cast<unsigned>(-static_cast<int>(op.injected_error_));
}

void io_ring::count_in_flight(detail::ring_op& placed) noexcept {
  in_flight_ += placed.chain_completions();
  if (placed.scope_) placed.scope_->in_flight_.push_back(placed);
}

void io_ring::submit_queued() {
  if (io_uring_sq_ready(&ring_) != 0) enter(0);
}

void io_ring::enter(unsigned wait_for) {
  for (;;) {
    ++stats_.enters;
    // With DEFER_TASKRUN completions are only posted inside io_uring_enter(GETEVENTS).
    const int rc = wait_for ? io_uring_submit_and_wait(&ring_, wait_for)
                            : io_uring_submit_and_get_events(&ring_);
    if (rc >= 0) {
      // The wake poll is the ring's own business: the stats count what callers issued.
      const unsigned own = std::min(static_cast<unsigned>(rc), std::exchange(internal_sqes_, 0u));
      const unsigned theirs = static_cast<unsigned>(rc) - own;
      stats_.submitted += theirs;
      stats_.largest_submit = std::max<std::uint64_t>(stats_.largest_submit, theirs);
      return;
    }
    if (rc == -EINTR) continue;
    if (rc == -EBUSY || rc == -EAGAIN) {  // completions must be reaped before more submits
      reap();
      if (wait_for == 0) return;
      continue;
    }
    throw std::system_error(-rc, std::generic_category(), "io_uring_enter");
  }
}

io_uring_sqe* io_ring::internal_sqe() {
  for (;;) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
    enter(0);
  }
}

}  // namespace tempfile
