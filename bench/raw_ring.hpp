#pragma once
// Hand-written liburing: the yardstick the coroutine layer is measured against.

#include <liburing.h>

#include <cstddef>

namespace tempfile_bench {

/// Setup flags the library's io_ring asks for; the raw ring uses the same ones.
unsigned ring_setup_flags(bool defer_taskrun);

/// A bare io_uring, set up with the given IORING_SETUP_* flags.
class raw_ring {
 public:
  raw_ring(unsigned entries, unsigned flags);
  ~raw_ring();
  raw_ring(const raw_ring&) = delete;
  raw_ring& operator=(const raw_ring&) = delete;

  /// One NOP: get_sqe, prep_nop, submit_and_wait(1), cqe_seen.
  void nop();
  /// `batch` NOPs: `batch` SQEs, one submit_and_wait(batch), reap them all.
  void nop_batch(unsigned batch);

 private:
  io_uring ring_{};
};

}  // namespace tempfile_bench
