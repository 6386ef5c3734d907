#pragma once
// Durable publishes into one directory at once share its fsync (a group commit): a name
// made while a sync of its directory is under way waits for the next sync, which covers
// every name made meanwhile, instead of syncing the directory on its own.

#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <tempfile/detail/ring_op.hpp>
#include <tempfile/io_ring.hpp>

namespace tempfile::detail {

class directory_sync_batches;

/// Awaiter of `directory_sync_batches::join`: resumes once a sync of the directory that
/// started after the await completed, and gives its failure (null when it succeeded). An
/// op that never reaches the kernel, like `yield_op`: a task destroyed while it waits
/// leaves its batch; a ring destroyed first cuts it loose.
class batch_waiter : public ring_op {
 public:
  batch_waiter(io_ring& ring, directory_sync_batches& batches, std::string_view dir) noexcept
      : ring_op(ring, nullptr), batches_(&batches), dir_(dir) {}
  ~batch_waiter();
  batch_waiter(const batch_waiter&) = delete;
  batch_waiter& operator=(const batch_waiter&) = delete;

  /// Joins the directory's next batch (starting one if none is under way); does not
  /// suspend when that cannot be started, and gives the reason instead.
  bool await_suspend(std::coroutine_handle<> waiting) noexcept;
  std::exception_ptr await_resume() noexcept {
    (void)take_result();
    return std::move(failure_);
  }

 private:
  friend class directory_sync_batches;

  directory_sync_batches* batches_;
  std::string_view dir_;
  op_list* batch_ = nullptr;  // the list it waits in
  std::exception_ptr failure_;
};

/// A ring's directory syncs shared by the durable publishes in flight. One sync of a
/// directory runs at a time: a publish's own chain, which makes its name and syncs (see
/// `directory_sync`), or a batch, which syncs for every name made while the sync before it
/// ran. A sync in a batch starts only after each of its names was made, so each one it
/// covers is on stable storage when it completes. The ring's thread only.
class directory_sync_batches : public ring_extension {
 public:
  explicit directory_sync_batches(io_ring& ring) noexcept : ring_(ring) {}
  void ring_closing() noexcept override;

  /// Whether a sync of `dir` is under way: a publish then makes its name alone and joins
  /// the next batch (`join`) rather than syncing on its own.
  bool busy(std::string_view dir) const { return !closing_ && dirs_.contains(dir); }

  /// Marks `dir` busy while a publish's own chain syncs it; when it goes, the names made
  /// meanwhile get their batch.
  class own_sync {
   public:
    own_sync(directory_sync_batches& batches, std::string_view dir);
    ~own_sync() { batches_.release(dir_); }
    own_sync(const own_sync&) = delete;
    own_sync& operator=(const own_sync&) = delete;

   private:
    directory_sync_batches& batches_;
    std::string_view dir_;
  };

  /// Waits, once a name is made in `dir`, for a sync of `dir` that covers it.
  batch_waiter join(std::string_view dir) noexcept { return batch_waiter(ring_, *this, dir); }

  /// How many names wait for the next sync of `dir`.
  std::size_t waiting(std::string_view dir) const noexcept;

 private:
  friend class batch_waiter;
  struct directory {
    op_list next;     // names waiting for the next sync
    op_list syncing;  // names the batch under way covers
  };

  /// `dir` is no longer synced by a publish's own chain: starts the batch of whoever
  /// waits, or forgets the directory.
  void release(std::string_view dir) noexcept;
  /// Starts syncing `dir` for its waiters; fails them if that cannot start.
  void start_batches(std::string_view dir) noexcept;
  task<void> run_batches(std::string dir);
  /// Completes every waiter of `batch` with `failure`.
  static void complete(op_list& batch, const std::exception_ptr& failure) noexcept;

  io_ring& ring_;
  std::map<std::string, directory, std::less<>> dirs_;  // those being synced
  bool closing_ = false;
};

}  // namespace tempfile::detail
