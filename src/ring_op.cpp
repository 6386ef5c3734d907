#include <tempfile/detail/ring_op.hpp>

#include <unistd.h>

#include <tempfile/io_ring.hpp>

namespace tempfile::detail {

ring_op::~ring_op() {
  if (stage_ == stage::prepared || stage_ == stage::consumed) return;
  if (ring_)
    ring_->abandon(*this);
  else
    discard_result();  // completed, but the ring went away before its waiter resumed
}

void ring_op::discard_result() noexcept {
  if (undo_ && result_ >= 0) undo_(*this);
  if (result_is_fd_ && result_ >= 0) ::close(result_);  // an open nobody will take
  if (closes_ && result_ != -ECANCELED) closes_->release();  // a close that ran
  stage_ = stage::consumed;
}

linked_ops::~linked_ops() {
  if (first_.stage_ == ring_op::stage::prepared || first_.stage_ == ring_op::stage::consumed)
    return;
  if (first_.ring_)
    first_.ring_->abandon(first_);
  else  // the ring went away first and cut the chain loose
    first_.for_each_in_chain([](ring_op& op) { op.discard_result(); });
}

void undo_success(ring_op& op) noexcept {
  if (op.undo_ && op.result_ >= 0) op.undo_(op);
}

void fail_in_kernel(ring_op& op, int error) noexcept {
  op.injected_error_ = static_cast<unsigned char>(error);
}

}  // namespace tempfile::detail
