#pragma once
/// \file
/// `detail::background_writes`: a file's full buffers being written behind its writer.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <tempfile/detail/file_buffer.hpp>
#include <tempfile/io_ring.hpp>
#include <tempfile/task.hpp>

namespace tempfile::detail {

/// Writes all of `data` at `offset`, completing short writes; `std::system_error` on
/// failure. Takes no object, so a background write stays valid when its file is moved.
task<void> write_fully(io_ring& ring, int fd, std::span<const std::byte> data,
                       std::int64_t offset);

/// Writes `data` at `offset` with pwrite, without a ring (destructors, a ring going away):
/// best effort, it stops at the first error.
void pwrite_now(int fd, std::span<const std::byte> data, std::int64_t offset) noexcept;

/// Up to `max_in_flight` full buffers of one file, each written in the background in the
/// order they were started and handed to the kernel at once, so the kernel's copy overlaps
/// the writer filling its next buffer. A failed write keeps its bytes for a retry.
class background_writes {
 public:
  /// Two keep the kernel's writer busy while the next buffer fills; with one, each buffer
  /// waited for a wake-up on both sides (bench/README.md, "seqwrite").
  static constexpr std::size_t max_in_flight = 2;

  bool empty() const noexcept { return count_ == 0; }
  bool full() const noexcept { return count_ == max_in_flight; }
  /// Where the newest pending bytes end (not empty).
  std::int64_t newest_end() const noexcept { return slots_[count_ - 1].end(); }
  /// The furthest end of any pending bytes, or `end` if further.
  std::int64_t furthest_end(std::int64_t end) const noexcept;

  /// Starts writing the first `len` bytes of `buffer` at `offset` (not full), taking the
  /// buffer; `buffer` becomes the one to fill next (empty, or one a settled write left).
  /// If it throws, nothing changed.
  void start(io_ring& ring, int fd, file_buffer& buffer, std::size_t len, std::int64_t offset);
  /// Waits for the oldest write, or writes its bytes again if it failed before; on failure
  /// the newer writes are waited out and kept for a retry too, and the error is thrown.
  task<void> settle_oldest(io_ring& ring, int fd);
  /// Waits out or cancels every background write; the bytes stay pending.
  void cancel() noexcept;
  /// Writes every pending byte with pwrite, then forgets them (no ring: best effort).
  void write_back_now(int fd) noexcept;
  /// Forgets everything (after cancel): the buffers go back to their cache.
  void clear() noexcept;
  /// Exchanges all pending writes with `other` (a file's move): the bytes stay where their
  /// writes read them.
  void swap(background_writes& other) noexcept;
  friend void swap(background_writes& a, background_writes& b) noexcept { a.swap(b); }

 private:
  struct pending_write {
    file_buffer bytes;
    std::int64_t offset = 0;
    std::size_t len = 0;  // bytes not yet known to be written
    task<void> write;     // the background write; destroyed before `bytes`
    std::int64_t end() const noexcept { return offset + static_cast<std::int64_t>(len); }
  };

  std::array<pending_write, max_in_flight> slots_;  // oldest first
  std::size_t count_ = 0;                           // slots in use
};

}  // namespace tempfile::detail
