#pragma once
/// \file
/// `buffered_file`: the file core every on-disk file type shares — Python's buffered file
/// protocol as a positioned stream over explicit-offset io_uring reads and writes.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <tempfile/detail/background_writes.hpp>
#include <tempfile/detail/buffered_range.hpp>
#include <tempfile/detail/file_protocol.hpp>
#include <tempfile/file_mode.hpp>
#include <tempfile/io_ring.hpp>
#include <tempfile/task.hpp>
#include <tempfile/unique_fd.hpp>

namespace tempfile {
namespace detail {
struct unwritten_bytes;
struct publish_outcome;
}  // namespace detail

/// Buffer size used when `buffering` is -1 (or 1). Large enough that 4 KiB writes reach the
/// kernel as 256 KiB io_uring writes (see README, "Buffering"). Writes grow a file's buffer
/// to its size as they need it, from 16 KiB: a file holding a few KiB holds a small buffer.
inline constexpr std::size_t default_buffer_size = 256 * 1024;

/// A positioned, buffered byte stream over a descriptor. The buffer serves either as a
/// write-back buffer (dirty bytes not yet written) or as read-ahead, never both at once.
/// Sequential writes through the default buffer are pipelined: a full buffer is written in
/// the background while the next one fills (write-behind, up to two buffers behind); their
/// completion is awaited before any other I/O that could observe or reorder them, and a
/// failure surfaces at that point with the bytes kept.
/// An explicit `buffering(n)` holds at most n unwritten bytes, as Python does: a full
/// buffer is written before the write returns.
/// I/O on a closed file, reading a write-only file or writing a read-only one throws
/// `std::system_error` (EBADF). A ring destroyed before its files writes back what they
/// buffer (synchronously) and detaches them: I/O on a detached file throws EBADF naming
/// the cause, while `close()` and destruction still work.
class buffered_file : public file_protocol<buffered_file>, private detail::ring_user {
 public:
  using file_protocol::read;
  using file_protocol::write;

  /// The moved-from file is closed and owns nothing.
  buffered_file(buffered_file&& other) noexcept;
  /// Closes this file (as the destructor would), then takes `other`'s; `other` owns nothing.
  buffered_file& operator=(buffered_file&& other) noexcept;
  buffered_file(const buffered_file&) = delete;
  buffered_file& operator=(const buffered_file&) = delete;
  /// Closes an unclosed file synchronously (deleting it where due); never throws.
  ~buffered_file();

  /// Python's readinto: fills `buffer` unless end of file comes first; returns the count.
  task<std::size_t> read(std::span<std::byte> buffer);
  /// Writes all of `data` (buffered unless `buffering` is 0); returns `data.size()`.
  task<std::size_t> write(std::span<const std::byte> data);
  /// Moves the position (SEEK_SET, SEEK_CUR, SEEK_END); returns it. SEEK_END counts from
  /// the file's real size (fstat: other handles' and processes' writes included) or the end
  /// of this handle's unwritten bytes, whichever is further. Never reads or writes.
  std::int64_t seek(std::int64_t offset, int whence = SEEK_SET);
  /// The position: where the next read or write starts.
  std::int64_t tell() const;
  /// Resizes the file to `size` (default: the position); the position is unchanged.
  task<std::int64_t> truncate(std::optional<std::int64_t> size = {});
  /// Writes buffered data to the file (not an fsync).
  task<void> flush();
  /// Flushes, closes and deletes where due. Idempotent. If the flush fails the file stays
  /// open with its data buffered, and the error is thrown.
  task<void> close();

  /// True once `close()` succeeded.
  bool closed() const noexcept { return closed_; }
  /// The mode string the file was opened with ("w+b" by default).
  std::string_view mode() const noexcept { return mode_.text; }
  /// Whether the descriptor refers to a terminal; EBADF when closed.
  bool isatty() const;
  /// Whether the mode allows reading; EBADF when closed.
  bool readable() const;
  /// Whether the mode allows writing; EBADF when closed.
  bool writable() const;
  /// Always true while open (regular files); EBADF when closed.
  bool seekable() const;
  /// The descriptor, still owned by the file; EBADF when closed. Once handed out, what
  /// the caller writes through it is synced by a durable publish like the rest.
  int fileno() const;
  /// Bytes of buffer in use: 0 when unbuffered.
  std::size_t buffer_size() const noexcept { return buffer_.capacity(); }
  /// The most memory the buffers of a file opened with `buffering` take: its buffer, and
  /// while writing behind, the full ones being written too.
  static std::size_t buffer_memory(long buffering) noexcept;

 protected:
  /// What becomes of the file's data: `anonymous` (no name, gone at close unless linked),
  /// `kept` (named, survives), or named and removed at close or at destruction.
  enum class removal { anonymous, kept, on_close, on_destroy };

  /// What a file's description is: its path, or the directory of a file without a name.
  enum class described { by_path, by_directory };

  /// `description` names the file in errors: its path, or (`by_directory`) its directory,
  /// to which errors add "(unnamed temporary file)".
  buffered_file(io_ring& ring, unique_fd fd, file_mode mode, long buffering,
                std::filesystem::path description, described how = described::by_path);

  /// The ring every operation of this file runs on; throws EBADF once that ring has been
  /// destroyed.
  io_ring& ring() const;
  /// What errors name: the file's path, or its directory when unnamed.
  const std::filesystem::path& description() const noexcept { return description_; }
  /// Changes what errors name (after the file got or changed its name).
  void set_description(std::filesystem::path description) { description_ = std::move(description); }
  /// The object goes on with `fd`, a file with the same contents (a cross-filesystem copy);
  /// the old descriptor is closed. The buffer must hold no unwritten data.
  void replace_descriptor(unique_fd fd) noexcept { fd_ = std::move(fd); }
  /// `path` is removed as `when` says; data of a `kept` file is flushed even at destruction.
  void set_removal(removal when, std::filesystem::path path = {});
  /// Throws `std::system_error` (EBADF) if the file is closed.
  void check_open() const;
  /// The descriptor, for the library's own use (`fileno` marks it handed out); EBADF when
  /// closed.
  int descriptor() const;
  /// Says the file is fresh and unnamed, its descriptor nobody else's: until the file
  /// reaches the kernel otherwise, its data is what the buffer holds.
  void set_data_only_buffered() noexcept { data_only_buffered_ = true; }
  /// Says the file may hold data the buffer does not: written, truncated, named, reopened.
  void set_data_beyond_buffer() const noexcept { data_only_buffered_ = false; }
  /// Publishes the file through `publish`, called with the bytes it still buffers
  /// (`detail::unwritten_bytes`) for the publish's chain to write first, and returning a
  /// `task<detail::publish_outcome>`. Where that chain wrote none of them, throws its failed
  /// write as `flush` would, or flushes and publishes again without them. Defined in src/.
  template <class Publish>
  task<detail::publish_outcome> publish_buffered(Publish publish);
  friend class file_protocol<buffered_file>;
  /// Throws `std::system_error` for `error`, naming `operation` and `description()`.
  [[noreturn]] void fail(int error, const char* operation) const;

 private:
  static const detail::in_memory_path<std::size_t> write_path;
  static void write_in_buffer(void* file, std::span<const std::byte> data,
                              std::optional<std::size_t>& written);
  static task<std::size_t> write_through(void* file, std::span<const std::byte> data);
  task<std::size_t> write_coroutine(std::span<const std::byte> data);
  task<void> write_all(std::span<const std::byte> data, std::int64_t offset);
  task<std::size_t> read_at(std::span<std::byte> buffer, std::int64_t offset);
  task<void> flush_buffer();
  task<void> write_behind();
  task<void> settle_oldest_write();
  task<void> settle_write_behind();
  /// Whether full buffers are being written behind the writer: only then is there
  /// anything for `settle_write_behind` to wait for (most files never write behind).
  bool writing_behind() const noexcept { return !behind_.empty(); }
  bool continues_pending_writes() const noexcept;
  std::int64_t current_end() const;
  void check_attached() const;
  void check_readable() const;
  void check_writable() const;
  void write_back_now() noexcept;
  static void finish_without_ring(ring_user& self) noexcept;
  void close_detached();
  void swap(buffered_file& other) noexcept;

  // The defaults describe a closed file that owns nothing: what a move leaves behind.
  unique_fd fd_;
  file_mode mode_;
  std::filesystem::path description_;
  described described_ = described::by_path;
  removal removal_ = removal::anonymous;
  std::filesystem::path removal_path_;
  bool writes_behind_ = false;  // the default buffer pipelines; an explicit size holds n
  // The file holds no data but the buffer's: a publish's write of the buffer that syncs
  // itself (RWF_DSYNC) then stands for an fdatasync. Mutable: `fileno` clears it.
  mutable bool data_only_buffered_ = false;
  detail::buffered_range buffer_;
  detail::background_writes behind_;  // full buffers being written behind the writer
  std::int64_t pos_ = 0;
  bool closed_ = true;
};

}  // namespace tempfile
