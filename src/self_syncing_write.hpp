#pragma once
// The calling thread's one write at a time that syncs its own data (RWF_DSYNC).

namespace tempfile::detail {

/// The calling thread's one write that may sync itself (RWF_DSYNC) at a time. io-wq runs
/// the buffered writes of one file one after another, and those of files whose inodes hash
/// alike (64 buckets per thread) as well: a write that syncs itself holds its bucket until
/// the sync is done, so writes of unrelated files wait for a journal commit. Many at once
/// queue behind each other's syncs; one at a time delays at most the writes that share
/// its bucket, for one sync. The others sync with an fdatasync, which holds no bucket.
class self_syncing_write {
 public:
  /// Takes the thread's turn if `wanted` and it is free.
  explicit self_syncing_write(bool wanted) noexcept;
  ~self_syncing_write() { release(); }
  self_syncing_write(const self_syncing_write&) = delete;
  self_syncing_write& operator=(const self_syncing_write&) = delete;

  explicit operator bool() const noexcept { return held_; }
  /// The write completed: another may sync itself.
  void release() noexcept;

 private:
  bool held_;
};

}  // namespace tempfile::detail
