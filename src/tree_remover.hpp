#pragma once
// Removal of a directory tree through descriptors: what temporary_directory's cleanup runs.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include <tempfile/io_ring.hpp>
#include <tempfile/task.hpp>

#include "directory_walk.hpp"

namespace tempfile::detail {

/// Removes a tree through directory descriptors (never through re-resolved paths) and
/// remembers the first error while removing everything else it can. Every entry costs a
/// bounded number of operations whatever fails: a directory below which something could not
/// be removed is neither removed nor retried, and neither are its ancestors.
class tree_remover {
 public:
  explicit tree_remover(io_ring& ring) noexcept : ring_(ring) {}

  /// Removes `root` (absolute) and everything below it.
  task<void> remove(std::filesystem::path root);

  const std::optional<std::system_error>& first_error() const noexcept { return first_error_; }

 private:
  /// A subdirectory found by listing `parent`.
  struct subdirectory {
    open_directory* parent;
    const char* name;
  };
  /// The outcome of one attempt at removing an entry: 0 or an errno and the operation that
  /// failed, and why if the errno alone would mislead; `reported` when a failure below was
  /// already recorded (nothing to retry).
  struct attempt {
    int error = 0;
    const char* operation = "";
    bool reported = false;
    const char* reason = nullptr;
  };

  task<int> open(int dirfd, const char* name, int flags);
  task<int> unlink(int dirfd, const char* name, int flags);
  /// Keeps the first error (naming `reason` after the path, when given), and marks `where`
  /// (the directory that could not be emptied) and its ancestors so that none of them is
  /// removed or retried.
  void record(int error, const char* operation, const std::string& path, open_directory* where,
              const char* reason = nullptr);
  task<void> remove_entry(open_directory& parent, const char* name, entry_kind kind);
  task<attempt> unlink_other(open_directory& parent, const char* name);
  task<attempt> remove_directory(open_directory& parent, const char* name);
  task<void> empty(std::span<open_directory> dirs);
  task<void> remove_subdirectories(std::span<const subdirectory> subdirectories);
  task<void> make_accessible(const open_directory& parent, const char* name);

  /// Directories held open tree-wide beyond one per level of the tree: bounds the
  /// descriptors (and listing buffers) cleanup uses to the tree's depth plus this.
  static constexpr std::size_t extra_open_directories = 128;

  io_ring& ring_;
  std::size_t spare_descriptors_ = extra_open_directories;
  std::optional<std::system_error> first_error_;
};

}  // namespace tempfile::detail
