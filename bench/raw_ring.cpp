#include "raw_ring.hpp"

#include <stdexcept>
#include <system_error>

namespace tempfile_bench {
namespace {

void check(int rc, const char* what) {
  if (rc < 0) throw std::system_error(-rc, std::generic_category(), what);
}

}  // namespace

unsigned ring_setup_flags(bool defer_taskrun) {
  return IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
         (defer_taskrun ? IORING_SETUP_DEFER_TASKRUN : 0u);
}

raw_ring::raw_ring(unsigned entries, unsigned flags) {
  check(io_uring_queue_init(entries, &ring_, flags), "io_uring_queue_init");
}

raw_ring::~raw_ring() { io_uring_queue_exit(&ring_); }

void raw_ring::nop() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  io_uring_prep_nop(sqe);
  check(io_uring_submit_and_wait(&ring_, 1), "io_uring_submit_and_wait");
  io_uring_cqe* cqe;
  check(io_uring_peek_cqe(&ring_, &cqe), "io_uring_peek_cqe");
  io_uring_cqe_seen(&ring_, cqe);
}

void raw_ring::nop_batch(unsigned batch) {
  for (unsigned i = 0; i < batch; ++i) io_uring_prep_nop(io_uring_get_sqe(&ring_));
  check(io_uring_submit_and_wait(&ring_, batch), "io_uring_submit_and_wait");
  unsigned head;
  unsigned seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) ++seen;
  if (seen != batch) throw std::logic_error("raw_ring: fewer completions than NOPs");
  io_uring_cq_advance(&ring_, seen);
}

}  // namespace tempfile_bench
