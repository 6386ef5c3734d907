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
  /// Reads mode, buffering, dir (and suffix, prefix for the fallback name).
  static task<temporary_file> create(io_ring& ring, options opts = options());

  /// Gives the file a name atomically: `target` appears with all data written so far (the
  /// buffer is flushed first), never partially. EEXIST if `target` exists. The file stays
  /// open. EOPNOTSUPP when the filesystem lacked `O_TMPFILE` (the fallback file cannot be
  /// linked back).
  task<void> link(std::filesystem::path target);

 private:
  temporary_file(io_ring& ring, unique_fd fd, file_mode mode, long buffering,
                 std::filesystem::path dir, bool linkable);
  bool linkable_;
};

namespace detail {
/// Makes `open_unnamed` behave as on a filesystem without `O_TMPFILE` (for tests of the
/// fallback; the kernels and filesystems at hand all support it).
void simulate_missing_o_tmpfile(bool missing) noexcept;
/// Publishes the open file `fd` (an `O_TMPFILE`) at `target`: linkat of the calling
/// thread's /proc/thread-self/fd/N, or where /proc is not mounted, of `fd` itself with
/// AT_EMPTY_PATH (which needs CAP_DAC_READ_SEARCH); ENOENT saying so when neither works.
task<void> link_tmpfile(io_ring& ring, int fd, std::filesystem::path target);
/// Opens an unnamed file in `dir`; returns the fd and whether it is a real `O_TMPFILE`.
task<std::pair<unique_fd, bool>> open_unnamed(io_ring& ring, std::filesystem::path dir,
                                              const options& opts);
}  // namespace detail

}  // namespace tempfile
