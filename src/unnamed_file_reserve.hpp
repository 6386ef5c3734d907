#pragma once
// `unnamed_file_reserve`: O_TMPFILE descriptors a ring opens ahead for
// `temporary_file::create` (`ring_options::unnamed_file_reserve`).

#include <fcntl.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <vector>

#include <tempfile/io_ring.hpp>
#include <tempfile/ops.hpp>
#include <tempfile/task.hpp>
#include <tempfile/unique_fd.hpp>

namespace tempfile::detail {

/// The open every unnamed file starts with: `O_TMPFILE`, read-write, close-on-exec, 0600.
inline auto open_tmpfile(io_ring& ring, const std::filesystem::path& dir) {
  return ops::openat(ring, AT_FDCWD, dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

/// Per directory, a shelf of files opened by `open_tmpfile`, refilled in one batch of openat
/// SQEs by a detached task whenever it falls to half. A directory gets a shelf only after a
/// direct open there succeeded, and loses it when a refill fails: errors always reach a
/// caller through a direct open, never from the batch.
class unnamed_file_reserve final : public ring_extension {
 public:
  explicit unnamed_file_reserve(io_ring& ring) noexcept;
  ~unnamed_file_reserve() override;

  /// A file from `dir`'s shelf, or none when it is empty or `dir` has no shelf.
  unique_fd take(const std::filesystem::path& dir);
  /// A direct open in `dir` succeeded: keep `dir` stocked from now on.
  void stock(const std::filesystem::path& dir);

 private:
  struct shelf {
    std::filesystem::path dir;
    std::vector<unique_fd> files;
    bool refilling = false;
  };

  shelf* find(const std::filesystem::path& dir) noexcept;
  void refill_if_low(shelf& s);
  task<void> refill(shelf& s, std::size_t count);

  io_ring& ring_;
  std::size_t capacity_;
  /// Most recently used first; stable addresses for the refill tasks.
  std::vector<std::unique_ptr<shelf>> shelves_;
};

}  // namespace tempfile::detail
