#pragma once
/// \file
/// `named_temporary_file`: Python's NamedTemporaryFile, with Python 3.12's deletion rules.

#include <filesystem>

#include <tempfile/buffered_file.hpp>
#include <tempfile/io_ring.hpp>
#include <tempfile/options.hpp>
#include <tempfile/task.hpp>

namespace tempfile {

/// A file with a visible name, created like `mkstemp` (0600, O_EXCL, O_NOFOLLOW). Deletion:
/// `auto_delete` and `delete_on_close`: removed by `close()` (or destruction, if unclosed);
/// `auto_delete` alone: removed at destruction, not at close; neither: never removed.
class named_temporary_file : public buffered_file {
 public:
  /// Reads mode, buffering, suffix, prefix, dir, auto_delete, delete_on_close,
  /// permissions, durable.
  static task<named_temporary_file> create(io_ring& ring, options opts = options());

  /// The absolute path of the file.
  const std::filesystem::path& name() const noexcept { return description(); }

  /// Flushes, then renames the file to `target`, replacing it atomically: from then on it
  /// is never deleted and `name()` is `target`. The position does not move. With `durable`,
  /// the data is on stable storage before the name appears and the name is when this
  /// returns. On another filesystem (EXDEV) the data is copied through the ring into a new
  /// file there (same mode), published, and the old name removed; the object then refers
  /// to the new file. A failure leaves the file at its old name with its data.
  task<void> persist(std::filesystem::path target);
  /// As `persist`, but never replaces: EEXIST if `target` exists.
  task<void> persist_noclobber(std::filesystem::path target);
  /// A second, independent handle on the file, opened by name (`O_NOFOLLOW`), read-write
  /// without truncation, with its own position (0) and buffer; it never deletes the file.
  /// This file's buffer is flushed first.
  task<named_temporary_file> reopen();

 private:
  using buffered_file::buffered_file;
  task<void> publish(std::filesystem::path target, bool replacing);

  bool durable_ = false;
};

}  // namespace tempfile
