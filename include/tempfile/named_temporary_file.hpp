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
  /// Reads mode, buffering, suffix, prefix, dir, auto_delete, delete_on_close.
  static task<named_temporary_file> create(io_ring& ring, options opts = options());

  /// The absolute path of the file.
  const std::filesystem::path& name() const noexcept { return description(); }

  /// Flushes, then renames the file to `target` (replacing it): from then on it is never
  /// deleted and `name()` is `target`.
  task<void> persist(std::filesystem::path target);

 private:
  using buffered_file::buffered_file;
};

}  // namespace tempfile
