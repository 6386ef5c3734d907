#include "direct_slots.hpp"

namespace tempfile::detail {

direct_slots::direct_slots(io_ring& ring) : ring_(ring) {
  const unsigned size = ring.cq_entries();
  if (io_uring_register_files_sparse(&ring.native_handle(), size) != 0) return;  // none to lend
  free_.reserve(size);
  for (unsigned slot = size; slot-- > 0;) free_.push_back(slot);
}

std::optional<unsigned> direct_slots::take() noexcept {
  if (free_.empty()) return std::nullopt;
  const unsigned slot = free_.back();
  free_.pop_back();
  return slot;
}

void direct_slots::close(unsigned slot) noexcept {
  int nothing = -1;
  (void)io_uring_register_files_update(&ring_.native_handle(), slot, &nothing, 1);
}

}  // namespace tempfile::detail
