#pragma once
/// \file
/// `temporary_directory`: Python 3's `TemporaryDirectory`, removed through io_uring.

#include <cstddef>
#include <filesystem>

#include <tempfile/io_ring.hpp>
#include <tempfile/options.hpp>
#include <tempfile/task.hpp>

namespace tempfile {

/// A directory made by `mkdtemp` (mode 0700) and removed with everything in it by
/// `cleanup()`, or, failing that, by the destructor.
///
/// Removal walks the tree through directory descriptors opened with `O_NOFOLLOW`, never by
/// re-resolved paths: a symlink inside the tree is unlinked, never followed, and nothing
/// outside the tree is removed or has its mode changed, even if the tree is modified while
/// it is being removed. The unlinks of one directory are issued together through io_uring.
/// A directory inside the tree that the owner cannot list, enter or write into (0500, 0000)
/// is made accessible with `fchmod` on a descriptor for that very directory, then emptied.
/// A vanished entry (ENOENT), the root included, is not an error.
///
/// Move-only; a moved-from object owns nothing. Depth of the tree costs one open
/// descriptor per level while it is being removed.
class temporary_directory {
 public:
  /// Makes the directory as `mkdtemp` does: reads `suffix`, `prefix`, `dir`, `permissions`,
  /// and keeps `ignore_cleanup_errors` and `auto_delete` for later. Throws
  /// `std::system_error` (ENOENT for a missing `dir`, EACCES, …); nothing is left behind
  /// when it throws.
  static task<temporary_directory> create(io_ring& ring, options opts = options());

  /// Takes `other`'s directory; `other` owns none and removes nothing.
  temporary_directory(temporary_directory&& other) noexcept;
  /// Removes the directory this object owned (as the destructor would), then takes `other`'s.
  temporary_directory& operator=(temporary_directory&& other) noexcept;
  temporary_directory(const temporary_directory&) = delete;
  temporary_directory& operator=(const temporary_directory&) = delete;

  /// Unless `cleanup()` succeeded or `auto_delete` is false: removes the tree
  /// synchronously (on a private ring), best effort, never throws.
  ~temporary_directory();

  /// The absolute path of the directory; empty for a moved-from object. Still the same
  /// after `cleanup()`.
  const std::filesystem::path& path() const noexcept { return path_; }

  /// Removes the directory and everything in it, on the ring it was created with, which
  /// must still exist. Once it has succeeded, later calls do nothing (even if something
  /// new appears at `path()`). On failure it still removes everything it can, then throws
  /// the first error as `std::system_error` (errno, "<operation> <path>"), unless
  /// `ignore_cleanup_errors` was set; a later call (or the destructor) tries again.
  task<void> cleanup();

 private:
  temporary_directory(io_ring& ring, std::filesystem::path path, const options& opts);
  /// The one removal both `cleanup()` and the destructor run, on `ring`.
  task<void> remove_on(io_ring* ring);
  /// The destructor's removal: `remove_on` a private ring, synchronously, best effort.
  void remove_now() noexcept;

  io_ring* ring_ = nullptr;
  std::filesystem::path path_;
  bool ignore_cleanup_errors_ = false;
  bool auto_delete_ = true;
  bool removed_ = false;
};

}  // namespace tempfile
