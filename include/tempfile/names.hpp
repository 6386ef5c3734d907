#pragma once
/// \file
/// Python's low-level name functions: `mkstemp`, `mkdtemp` and the deprecated `mktemp`.

#include <filesystem>
#include <functional>
#include <string>

#include <tempfile/io_ring.hpp>
#include <tempfile/options.hpp>
#include <tempfile/task.hpp>
#include <tempfile/unique_fd.hpp>

namespace tempfile {

/// What `mkstemp` made: an open descriptor the caller owns, and the file's absolute path.
struct created_file {
  /// The open descriptor (read-write), now the caller's.
  unique_fd fd;
  /// The file's absolute path.
  std::filesystem::path path;
};

/// Creates and opens a new file `dir / (prefix + 8 random characters + suffix)`, read-write,
/// mode 0600 (or exactly `permissions`), close-on-exec, never through a symlink. Reads
/// `suffix`, `prefix`, `dir`, `permissions` and `text` (which, as in Python on POSIX,
/// changes nothing). Only the caller can delete it.
/// A name that exists already is replaced by a fresh one, up to `tmp_max` times, then
/// EEXIST is thrown; any other error (ENOENT, ENOTDIR, EACCES, EMFILE, …) is thrown at once
/// as `std::system_error` naming the path, leaving nothing behind.
task<created_file> mkstemp(io_ring& ring, options opts = options());

/// Creates a new directory, mode 0700 (or exactly `permissions`), named as by `mkstemp`,
/// and returns its absolute path. Reads `suffix`, `prefix`, `dir` and `permissions`;
/// retries and throws like `mkstemp`.
task<std::filesystem::path> mkdtemp(io_ring& ring, options opts = options());

/// Returns an absolute name, formed as by `mkstemp`, that did not exist when checked, and
/// creates nothing: another process may take the name before the caller uses it. Reads
/// `suffix`, `prefix` and `dir`. Throws EEXIST after `tmp_max` names that all existed.
[[deprecated("racy: use mkstemp or named_temporary_file")]]
std::filesystem::path mktemp(options opts = options());

namespace detail {

/// The directory `opts` names: `opts.dir()` made absolute, or `gettempdir()`.
std::filesystem::path resolve_dir(const options& opts);

/// One candidate name in `dir` (an absolute directory): prefix (`opts.prefix()` or
/// `gettempprefix()`), 8 random characters and `opts.suffix()`.
std::filesystem::path random_path(const std::filesystem::path& dir, const options& opts);

/// Where `random_path` takes its 8 characters from, on the calling thread. Empty: the
/// random generator. Tests install one to make names collide.
using name_source = std::function<std::string()>;

/// Installs `source` for the calling thread; returns the one it replaces.
name_source set_name_source(name_source source);

}  // namespace detail
}  // namespace tempfile
