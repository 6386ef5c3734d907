#include <tempfile/detail/op_scope.hpp>

#include <cstdint>
#include <utility>
#include <vector>

#include <tempfile/io_ring.hpp>

namespace tempfile::detail {

op_scope::entered::entered(io_ring& ring, op_scope& scope) noexcept
    : ring_(ring), outer_(ring.current_scope_) {
  scope.used_ = true;
  ring.current_scope_ = &scope;
}

op_scope::entered::~entered() { ring_.current_scope_ = outer_; }

void op_scope::hold(ring_op& op) noexcept {
  ring_op& leader = op.chain_head();
  leader.for_each_in_chain([](ring_op& link) { link.stage_ = ring_op::stage::held; });
  held_.push_back(leader);
}

void op_scope::cancel(io_ring& ring, std::coroutine_handle<> on_drained) {
  cancelled_ = true;
  on_drained_ = on_drained;
  // Ops still waiting for a slot never reach the kernel.
  ring.backlog_.for_each([&](ring_op& op) {
    if (op.scope_ != this) return;
    ring.backlog_.erase(op);
    // A chain's ops hold their success results until placed.
    op.for_each_in_chain([](ring_op& link) { link.result_ = -ECANCELED; });
    hold(op);
  });
  // Reaping may happen while the cancellations are queued (a full SQ): work on a copy.
  std::vector<ring_op*> placed;
  in_flight_.for_each([&](ring_op& op) { placed.push_back(&op); });
  for (ring_op* op : placed) {
    if (op->stage_ == ring_op::stage::in_flight) ring.cancel_from(op);  // whichever of a chain runs
  }
  if (in_flight_.empty() && on_drained_) ring.ready_.push_back({std::exchange(on_drained_, {}), nullptr});
  ring.signal_poll_fd();  // an outside loop submits the cancellations at its next poll
}

void op_scope::end(io_ring& ring) noexcept {
  if (!used_) return;
  const auto forget = [this](ring_op& op) {
    op.chain_head().for_each_in_chain([this](ring_op& part) {
      if (part.scope_ == this) part.scope_ = nullptr;
    });
  };
  // What is left belongs to objects that outlive the tree (a file's write-behind).
  while (ring_op* op = in_flight_.pop_front()) forget(*op);
  while (ring_op* leader = held_.pop_front()) {
    forget(*leader);
    leader->for_each_in_chain([](ring_op& link) { link.stage_ = ring_op::stage::completed; });
    ring.ready_.push_back({{}, &leader->chain_tail()});
  }
  for (auto* queue : {&ring.ready_, &ring.resuming_})
    for (const io_ring::ready_entry& entry : *queue)
      if (entry.op) forget(*entry.op);
  ring.backlog_.for_each(forget);
  if (ring.current_scope_ == this) ring.current_scope_ = nullptr;
}

}  // namespace tempfile::detail
