#pragma once
// `direct_slots`: the ring's table of direct descriptors (io_uring's registered files),
// lent to linked chains that open a file and use it before any return to user space.

#include <optional>
#include <vector>

#include <tempfile/io_ring.hpp>

namespace tempfile::detail {

/// A sparse registered-file table as large as the ring's CQ (the most ops in flight),
/// registered on first use, and the free slots in it. Whoever opens into a slot closes it
/// again before giving it back (a slot still holding a file is closed by the next open
/// into it, or by the ring's end). Ring thread only.
class direct_slots final : public ring_extension {
 public:
  explicit direct_slots(io_ring& ring);

  /// A free slot, or none when all are lent (or the kernel refused the table).
  std::optional<unsigned> take() noexcept;
  void give_back(unsigned slot) noexcept { free_.push_back(slot); }
  /// Closes what `slot` holds, at once (a files-update registration, not an op): for a
  /// chain that cannot end with the close (see io_ring's chain rule).
  void close(unsigned slot) noexcept;

 private:
  io_ring& ring_;
  std::vector<unsigned> free_;
};

/// A slot of `ring`'s table, given back when this goes; empty when none is free.
class lent_slot {
 public:
  explicit lent_slot(io_ring& ring) : table_(ring.extension<direct_slots>()), slot_(table_.take()) {}
  ~lent_slot() {
    if (slot_) table_.give_back(*slot_);
  }
  lent_slot(const lent_slot&) = delete;
  lent_slot& operator=(const lent_slot&) = delete;

  explicit operator bool() const noexcept { return slot_.has_value(); }
  unsigned operator*() const noexcept { return *slot_; }
  /// Closes what the slot holds (see direct_slots::close).
  void close() noexcept { table_.close(*slot_); }

 private:
  direct_slots& table_;
  std::optional<unsigned> slot_;
};

}  // namespace tempfile::detail
