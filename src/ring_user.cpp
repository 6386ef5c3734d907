#include <tempfile/detail/ring_user.hpp>

#include <tempfile/io_ring.hpp>

namespace tempfile::detail {

void ring_user::attach(io_ring* ring) noexcept {
  ring_ = ring;
  if (!ring) return;
  prev_ = nullptr;
  next_ = ring->users_;
  if (next_) next_->prev_ = this;
  ring->users_ = this;
}

void ring_user::detach() noexcept {
  if (!ring_) return;
  (prev_ ? prev_->next_ : ring_->users_) = next_;
  if (next_) next_->prev_ = prev_;
  prev_ = next_ = nullptr;
  ring_ = nullptr;
}

void ring_user::submit_now() const {
  if (ring_) ring_->submit_queued();
}

void ring_user::swap_rings(ring_user& other) noexcept {
  io_ring* const mine = ring_;
  io_ring* const theirs = other.ring_;
  detach();
  other.detach();
  attach(theirs);
  other.attach(mine);
}

}  // namespace tempfile::detail
