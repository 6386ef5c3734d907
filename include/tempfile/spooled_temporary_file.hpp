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
#include <vector>

#include <tempfile/file_mode.hpp>
#include <tempfile/file_protocol.hpp>
#include <tempfile/io_ring.hpp>
#include <tempfile/options.hpp>
#include <tempfile/task.hpp>
#include <tempfile/temporary_file.hpp>

namespace tempfile {

/// Keeps its data in memory until a write leaves the position past `max_size` (0: never by
/// size), `truncate` past `max_size`, `fileno()`, or `rollover()`. Rollover creates a
/// `temporary_file` in `dir` and awaits an asynchronous write of the whole memory buffer to
/// it within the call that triggered it; the position is kept. A failed rollover throws from
/// that call and loses nothing: the data (including the triggering write) stays in memory
/// and a later rollover may succeed.
class spooled_temporary_file : public detail::file_protocol<spooled_temporary_file> {
 public:
  using file_protocol::read;
  using file_protocol::write;

  /// Reads max_size, mode, buffering, suffix, prefix, dir. Does no I/O; an invalid mode
  /// throws `std::invalid_argument` here.
  explicit spooled_temporary_file(io_ring& ring, options opts = options());

  /// Moves the data to a file on disk. Idempotent.
  task<void> rollover();
  bool rolled_over() const noexcept { return file_.has_value(); }
  /// Rolls over (as Python does) and returns the file's descriptor.
  task<int> fileno();
  std::size_t max_size() const noexcept { return opts_.max_size(); }
  /// Publishes the whole contents at `target` atomically (EEXIST if it exists). In memory:
  /// writes them to an `O_TMPFILE` in `target`'s directory and links that; rolled over:
  /// links its file (EXDEV across filesystems is thrown).
  task<void> link(std::filesystem::path target);

  task<std::size_t> read(std::span<std::byte> buffer);
  task<std::size_t> write(std::span<const std::byte> data) { return store(data, true); }
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
  std::int64_t seek(std::int64_t offset, int whence = SEEK_SET);
  std::int64_t tell() const;
  task<std::int64_t> truncate(std::optional<std::int64_t> size = {});
  task<void> flush();
  task<void> close();
  bool closed() const noexcept;
  std::string_view mode() const noexcept { return mode_.text; }
  bool isatty() const;
  bool readable() const;
  bool writable() const;
  bool seekable() const;

 private:
  void check_open() const;
  [[noreturn]] void fail(int error, const char* operation) const;
  bool exceeds_max(std::int64_t size) const noexcept;
  /// Python checks the position after every write, empty ones too: a seek past max_size
  /// followed by an empty write rolls over.
  bool in_memory_past_max() const noexcept { return !file_ && exceeds_max(pos_); }
  /// Writes `data`, rolling over first when it would cross max_size; `check_position`:
  /// whether an empty `data` gets that after-write check (writelines does it once, at the end).
  task<std::size_t> store(std::span<const std::byte> data, bool check_position);
  void write_to_memory(std::span<const std::byte> data);
  task<void> rollover_keeping(std::span<const std::byte> unwritten);

  io_ring* ring_;
  options opts_;
  file_mode mode_;
  std::vector<std::byte> memory_;  // the contents while not rolled over
  std::int64_t pos_ = 0;
  std::optional<temporary_file> file_;
  bool closed_ = false;
};

}  // namespace tempfile
