#pragma once
/// \file
/// `spooled_temporary_file`: Python's SpooledTemporaryFile — in memory until it grows.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <string_view>

#include <tempfile/detail/file_protocol.hpp>
#include <tempfile/detail/spool_memory.hpp>
#include <tempfile/file_mode.hpp>
#include <tempfile/io_ring.hpp>
#include <tempfile/options.hpp>
#include <tempfile/spool_budget.hpp>
#include <tempfile/task.hpp>
#include <tempfile/temporary_file.hpp>

namespace tempfile {

/// Keeps its data in memory until a write leaves the position past `max_size` (0: never by
/// size), `truncate` past `max_size`, `fileno()`, or `rollover()`. Rollover creates a
/// `temporary_file` in `dir` and awaits an asynchronous write of the whole memory buffer to
/// it within the call that triggered it; the position is kept. A failed rollover throws from
/// that call and loses nothing: the data (including the triggering write) stays in memory
/// and a later rollover may succeed. With a `memory_budget`, a write or truncate that the
/// budget cannot hold rolls over the same way; if that rollover fails, the data is kept in
/// memory, charged even past the budget's limit. Rolled over, the file's buffers are
/// charged to the budget, and shrink or go when it cannot hold them (`spool_budget`).
class spooled_temporary_file : public file_protocol<spooled_temporary_file>,
                               private detail::ring_user {
 public:
  using file_protocol::read;
  using file_protocol::write;

  /// Reads max_size, memory_budget, mode, buffering, suffix, prefix, dir, permissions,
  /// durable. Does no I/O; an invalid mode throws `std::invalid_argument` here.
  explicit spooled_temporary_file(io_ring& ring, options opts = options());
  /// The moved-from file is closed and owns nothing.
  spooled_temporary_file(spooled_temporary_file&& other) noexcept;
  /// Drops this file's data (as destruction would), then takes `other`'s.
  spooled_temporary_file& operator=(spooled_temporary_file&& other) noexcept;

  /// Moves the data to a file on disk. Idempotent.
  task<void> rollover();
  /// True once the data lives in a file on disk (Python's `_rolled`).
  bool rolled_over() const noexcept { return file_.has_value(); }
  /// Rolls over (as Python does) and returns the file's descriptor.
  task<int> fileno();
  /// Bytes kept in memory before rollover (0: no size limit).
  std::size_t max_size() const noexcept { return opts_.max_size(); }
  /// Publishes the whole contents at `target` atomically (EEXIST if it exists), durably
  /// with `durable`. In memory: writes them to an `O_TMPFILE` in `target`'s directory and
  /// links that, without rolling over; rolled over: `temporary_file::link` (copying across
  /// filesystems). The position does not move.
  task<void> link(std::filesystem::path target);
  /// As `link`, but replaces an existing `target` atomically (`temporary_file::replace`).
  task<void> replace(std::filesystem::path target);

  /// Python's readinto: fills `buffer` unless end of file comes first; returns the count.
  task<std::size_t> read(std::span<std::byte> buffer);
  /// Writes all of `data`, rolling over if the position passes `max_size()`; returns the count.
  task<std::size_t> write(std::span<const std::byte> data) {
    return detail::task_access::defer(write_path, this, data);
  }
  /// Writes each element of a range of string-likes, rolling over as soon as one would
  /// cross max_size; like Python, checks the position once more at the end (even for an
  /// empty range), not after each empty element.
  template <class Range>
  task<void> writelines(const Range& lines) {
    check_open();
    for (const auto& line : lines) {
      const std::string_view text(line);
      co_await store(std::as_bytes(std::span(text.data(), text.size())), false);
    }
    if (in_memory_past_max()) co_await rollover();
  }
  /// Moves the position (SEEK_SET, SEEK_CUR, SEEK_END); returns it. Never rolls over.
  std::int64_t seek(std::int64_t offset, int whence = SEEK_SET);
  /// The position: where the next read or write starts.
  std::int64_t tell() const;
  /// Resizes the data to `size` (default: the position), rolling over past `max_size()`.
  task<std::int64_t> truncate(std::optional<std::int64_t> size = {});
  /// Writes buffered data to the file once rolled over; nothing to do in memory.
  task<void> flush();
  /// Frees the memory or closes the file. Idempotent.
  task<void> close();
  /// True once `close()` succeeded.
  bool closed() const noexcept;
  /// The mode string ("w+b" by default).
  std::string_view mode() const noexcept { return mode_.text; }
  /// False in memory; the file's answer once rolled over.
  bool isatty() const;
  /// Whether the mode allows reading; EBADF when closed.
  bool readable() const;
  /// Whether the mode allows writing; EBADF when closed.
  bool writable() const;
  /// Always true while open; EBADF when closed.
  bool seekable() const;

 private:
  void check_open() const;
  /// The ring to roll over on; throws EBADF once it has been destroyed: a spool whose
  /// ring is gone refuses all I/O but `close`.
  io_ring& ring() const;
  void swap(spooled_temporary_file& other) noexcept;
  task<void> publish(std::filesystem::path target, bool replacing);
  [[noreturn]] void fail(int error, const char* operation) const;
  bool exceeds_max(std::int64_t size) const noexcept {
    return opts_.max_size() != 0 && static_cast<std::uint64_t>(size) > opts_.max_size();
  }
  /// Python checks the position after every write, empty ones too: a seek past max_size
  /// followed by an empty write rolls over.
  bool in_memory_past_max() const noexcept { return !file_ && exceeds_max(pos_); }
  /// Writes `data`, rolling over first when it would cross max_size; `check_position`:
  /// whether an empty `data` gets that after-write check (writelines does it once, at the end).
  task<std::size_t> store(std::span<const std::byte> data, bool check_position);
  /// Writes non-empty `data` to memory unless that would pass max_size or the budget.
  bool store_in_memory(std::span<const std::byte> data);
  void write_to_memory(std::span<const std::byte> data);
  // A write staying in memory needs no coroutine.
  static const detail::in_memory_path<std::size_t> write_path;
  static void write_in_memory(void* spool, std::span<const std::byte> data,
                              std::optional<std::size_t>& written);
  static task<std::size_t> write_through(void* spool, std::span<const std::byte> data);
  task<void> rollover_keeping(std::span<const std::byte> unwritten);
  /// The buffering the file rolled over to gets, and in `charge` what that costs the budget.
  long buffering_within_budget(detail::budget_charge& charge) const;
  void count_budget_rollover() const noexcept;

  options opts_;
  file_mode mode_;
  detail::spool_memory memory_;  // the contents while not rolled over
  std::int64_t pos_ = 0;
  detail::budget_charge file_buffers_;  // returned after file_ is gone
  std::optional<temporary_file> file_;
  bool closed_ = false;
};

}  // namespace tempfile
