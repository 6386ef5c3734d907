#pragma once
/// \file
/// `temporary_file`: Python's TemporaryFile — a file with no name on disk.

#include <filesystem>

#include <tempfile/buffered_file.hpp>
#include <tempfile/io_ring.hpp>
#include <tempfile/options.hpp>
#include <tempfile/task.hpp>

namespace tempfile {

/// A file with no name: opened with `O_TMPFILE` in `dir` (mode 0600) through io_uring, so it
/// vanishes when closed, even if the process dies. Where the filesystem refuses
/// `O_TMPFILE` it is created with `mkstemp` and unlinked at once, transparently.
class temporary_file : public buffered_file {
 public:
  /// Reads mode, buffering, dir, permissions, durable (and suffix, prefix for the fallback
  /// name).
  static task<temporary_file> create(io_ring& ring, options opts = options());

  /// Gives the file a name atomically: `target` appears with all data written so far (the
  /// buffer is flushed first), never partially. EEXIST if `target` exists. The file stays
  /// open and its position does not move. With `durable`, the data is on stable storage
  /// before the name appears and the name is when this returns. On another filesystem
  /// (EXDEV) the data is copied through the ring into a new file there, with this file's
  /// mode, and that is linked. A failure leaves nothing at `target` (if only the final
  /// directory sync fails, the file is there whole, its name not yet durable).
  /// EOPNOTSUPP when the filesystem lacked `O_TMPFILE` (the fallback file cannot be
  /// linked back).
  task<void> link(std::filesystem::path target);
  /// As `link`, but replaces an existing `target` atomically: the file is linked under a
  /// fresh name in `target`'s directory and renamed over it, so a reader sees the old file
  /// or the new one. The fresh name never outlives a failure.
  task<void> replace(std::filesystem::path target);
  /// A second, independent handle on the same file (through /proc/thread-self/fd): read-
  /// write, its own position (0) and buffer. This file's buffer is flushed first. Throws
  /// ENOENT saying so when /proc is not mounted.
  task<temporary_file> reopen();

 private:
  temporary_file(io_ring& ring, unique_fd fd, file_mode mode, long buffering,
                 std::filesystem::path dir, bool linkable, bool durable);
  task<void> publish(std::filesystem::path target, bool replacing);
  const std::filesystem::path& dir() const noexcept { return description(); }

  bool linkable_;
  bool durable_;
};

namespace detail {
/// Opens an unnamed file in `dir` (mode: `opts.permissions()` or 0600); returns the fd and
/// whether it is a real `O_TMPFILE`. Awaited at once by `create`, which holds `dir` and
/// `opts` meanwhile (a copy of a path allocates).
task<std::pair<unique_fd, bool>> open_unnamed(io_ring& ring, const std::filesystem::path& dir,
                                              const options& opts);
}  // namespace detail

}  // namespace tempfile
