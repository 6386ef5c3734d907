#pragma once
// A directory's fsync on a direct descriptor, chained around the op that makes a name in
// it: open → name → fsync → close, one round trip.

#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <tempfile/detail/ring_op.hpp>
#include <tempfile/ops.hpp>

#include "direct_slots.hpp"

namespace tempfile::detail {

/// Fills an openat SQE opening the directory `path` into direct descriptor `slot` (a direct
/// open takes no O_CLOEXEC: the descriptor is the ring's, never the process's).
struct open_directory_direct_sqe {
  const char* path;
  unsigned slot;
  void operator()(io_uring_sqe& sqe) const noexcept;
};

/// Fills an fsync SQE for direct descriptor `slot`.
struct fsync_direct_sqe {
  unsigned slot;
  void operator()(io_uring_sqe& sqe) const noexcept;
};

/// Fills a close SQE for direct descriptor `slot`.
struct close_direct_sqe {
  unsigned slot;
  void operator()(io_uring_sqe& sqe) const noexcept;
};

/// The ops that sync the directory `dir` through a direct slot of the ring, if one is free.
/// The open comes first, so a directory that cannot be opened fails before anything named
/// in it; the name and the fsync go on whatever the op before them did (their failures do
/// not break a chain), so the close always runs. Should it not have run (a chain broken
/// by a cancellation, or a failure a test injects), the slot is closed when this goes.
class directory_sync {
 public:
  directory_sync(io_ring& ring, std::string_view dir);
  ~directory_sync();
  directory_sync(const directory_sync&) = delete;
  directory_sync& operator=(const directory_sync&) = delete;

  /// Whether a slot was free; without one, sync through an ordinary descriptor
  /// (`sync_directory`).
  explicit operator bool() const noexcept { return static_cast<bool>(slot_); }
  /// The chain to await: open → `names` (if given) → fsync → close.
  linked_ops& chain(ring_op* names);
  /// Once the chain completed: throws what the open said (then nothing after it ran).
  void check_opened();
  /// Once the chain completed: what the fsync said, if it failed.
  std::exception_ptr sync_failure() const;

 private:
  std::string dir_;  // the kernel reads it while the chain runs
  lent_slot slot_;
  checked_op<int, open_directory_direct_sqe> open_;
  prepared_op<fsync_direct_sqe> sync_;
  prepared_op<close_direct_sqe> close_;
  std::optional<linked_ops> chain_;  // after the ops: cancels and waits before they go
};

}  // namespace tempfile::detail
