#pragma once
// A publish as one linked chain: the file's last bytes, fdatasync, the op that makes the
// name, and the sync of its directory on a direct descriptor.

#include <cassert>
#include <exception>
#include <filesystem>
#include <optional>
#include <utility>

#include <tempfile/detail/ring_op.hpp>
#include <tempfile/ops.hpp>

#include "direct_slots.hpp"
#include "publish.hpp"
#include "publish_steps.hpp"

namespace tempfile::detail {

/// Throws a failed sync (`result` < 0): the fdatasync of a file to publish (`datasync`) or
/// the fsync of a directory, naming `path`.
void check_sync(int result, bool datasync, const std::filesystem::path& path);

/// Fills an openat SQE opening the directory `path` into direct descriptor `slot` (a direct
/// open takes no O_CLOEXEC: the descriptor is the ring's, never the process's).
struct open_directory_direct_sqe {
  const char* path;
  unsigned slot;
  void operator()(io_uring_sqe& sqe) const noexcept {
    io_uring_prep_openat_direct(&sqe, AT_FDCWD, path, O_RDONLY | O_DIRECTORY, 0, slot);
  }
};

/// Fills an fsync SQE for direct descriptor `slot`.
struct fsync_direct_sqe {
  unsigned slot;
  void operator()(io_uring_sqe& sqe) const noexcept {
    io_uring_prep_fsync(&sqe, static_cast<int>(slot), 0);
    sqe.flags |= IOSQE_FIXED_FILE;
  }
};

/// Fills a close SQE for direct descriptor `slot`.
struct close_direct_sqe {
  unsigned slot;
  void operator()(io_uring_sqe& sqe) const noexcept { io_uring_prep_close_direct(&sqe, slot); }
};

/// The directory `dir` synced on direct descriptor `slot` by three linked ops: open, fsync,
/// close. A chain of its own, or the tail of a publish's chain. `dir` must outlive it.
class directory_sync {
 public:
  static constexpr unsigned ops = 3;

  directory_sync(io_ring& ring, const std::filesystem::path& dir, unsigned slot) noexcept
      : ring_(ring),
        dir_(dir),
        slot_(slot),
        open_(ring, {"openat", AT_FDCWD, dir.c_str()}, {dir.c_str(), slot}),
        sync_(ring, {slot}),
        close_(ring, {slot}) {}

  /// The chain's first op when the sync is a chain of its own.
  ring_op& open() noexcept { return open_; }
  /// Appends the fsync and the close to `chain`, whose last op is `open()`.
  void link_after_open(linked_ops& chain) noexcept {
    begin_chained_step("fsync directory", sync_);
    chain.add(0, sync_);
    chain.add(0, close_);
  }

  /// Once the chain ran: closes the slot a failed fsync left open (its close never ran) and
  /// returns the failure, naming the directory; null when the directory is synced.
  task<std::exception_ptr> settle();

 private:
  io_ring& ring_;
  const std::filesystem::path& dir_;
  unsigned slot_;
  checked_op<int, open_directory_direct_sqe> open_;
  prepared_op<fsync_direct_sqe> sync_;
  prepared_op<close_direct_sqe> close_;
};

/// What a publish's chain holds besides the op that makes the name.
struct chain_plan {
  unwritten_bytes unwritten;    ///< written first
  bool sync_data = false;       ///< an fdatasync before the name appears
  bool sync_directory = false;  ///< the target's directory synced after, where a direct
                                ///< descriptor is free and the SQ holds the whole chain
};

/// `publish` (`step`: an op giving the file open as `fd` the name `target`) in one linked
/// chain with what `plan` puts around it, so the whole publish takes one round trip. A
/// failure before the name exists is thrown (the write's excepted: see
/// `publish_outcome::written`); the directory's is kept in the outcome.
template <class Publish>
class publish_chain {
 public:
  publish_chain(io_ring& ring, int fd, const std::filesystem::path& target, const chain_plan& plan,
                const char* step, Publish& publish)
      : unwritten_(plan.unwritten),
        write_(ring, {fd, unwritten_.bytes, unwritten_.offset}),
        datasync_(ops::fsync(ring, fd, true)),
        publish_(publish),
        target_(target),
        sync_data_(plan.sync_data),
        chain_(writes() ? static_cast<ring_op&>(write_)
                        : sync_data_ ? static_cast<ring_op&>(datasync_) : publish) {
    assert(unwritten_.bytes.size() <= max_transfer);
    if (writes()) {
      begin_chained_step("write", write_);
      append(write_, static_cast<int>(unwritten_.bytes.size()));
    }
    if (sync_data_) {
      begin_chained_step("fdatasync", datasync_);
      append(datasync_, 0);
    }
    begin_chained_step(step, publish);
    append(publish, 0);
    if (plan.sync_directory && ring.sq_entries() >= length_ + directory_sync::ops) {
      slot_.emplace(ring);
      if (*slot_) {
        directory_path_ = target.parent_path();
        directory_.emplace(ring, directory_path_, **slot_);
        append(directory_->open(), 0);
        directory_->link_after_open(chain_);
      }
    }
  }

  task<publish_outcome> run() {
    co_await chain_;
    publish_outcome done;
    done.written = writes() ? linked_ops::result(write_) : 0;
    if (!done.wrote(unwritten_)) co_return done;  // nothing after the write ran
    if (sync_data_) check_sync(linked_ops::result(datasync_), true, target_);
    publish_.await_resume();
    if (directory_) {
      done.directory_synced = true;
      done.directory_failure = co_await directory_->settle();
    }
    co_return done;
  }

 private:
  bool writes() const noexcept { return !unwritten_.bytes.empty(); }
  /// Appends `op` (the chain's first when it is the first appended); the op after it runs
  /// once it completed with `success`.
  void append(ring_op& op, int success) noexcept {
    if (length_++ > 0) chain_.add(previous_success_, op);
    previous_success_ = success;
  }

  unwritten_bytes unwritten_;
  prepared_op<write_sqe> write_;
  decltype(ops::fsync(std::declval<io_ring&>(), 0, true)) datasync_;
  Publish& publish_;
  const std::filesystem::path& target_;
  std::filesystem::path directory_path_;
  bool sync_data_;
  std::optional<lent_slot> slot_;
  std::optional<directory_sync> directory_;
  linked_ops chain_;  // declared after the ops: cancels and waits before they go
  unsigned length_ = 0;
  int previous_success_ = 0;
};

}  // namespace tempfile::detail
