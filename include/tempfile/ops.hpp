#pragma once
/// \file
/// `tempfile::ops`: one awaitable per syscall, each issued as one SQE. Each returns the
/// syscall's result or throws `std::system_error` (generic category, the errno) whose
/// `what()` names the syscall and its path or descriptor. Pointers and buffers passed in
/// must stay valid until the awaitable completes (they do when it is awaited at once).

#include <fcntl.h>
#include <unistd.h>
#include <linux/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cassert>
#include <coroutine>
#include <span>
#include <type_traits>
#include <utility>

#include <tempfile/io_ring.hpp>

namespace tempfile {
namespace detail {

/// What an op's error names: the syscall, and the paths or descriptor it acted on.
struct op_context {
  const char* syscall;
  int fd = -1;
  const char* path = nullptr;
  const char* second_path = nullptr;
  bool opens_fd = false;  // the result is a descriptor the awaiter must take or close
  /// What a successful op created at `second_path` if set, else at `path` (relative to
  /// `fd`): removed if nobody is left to take it.
  enum class creation : unsigned char { none, file, directory } creates = creation::none;
};

[[noreturn]] void throw_op_error(int err, const op_context& context);

/// Largest transfer Linux performs in one read/write call.
inline constexpr std::size_t max_transfer = 0x7ffff000;

/// An op whose SQE `Prepare` (a function object holding the arguments) fills.
template <class Prepare>
class prepared_op : public ring_op {
 public:
  prepared_op(io_ring& ring, Prepare prepare) noexcept
      : ring_op(ring, &prepare_into), prepare_(prepare) {}

 private:
  static void prepare_into(ring_op& self, io_uring_sqe& sqe) noexcept {
    static_cast<prepared_op&>(self).prepare_(sqe);
  }

  Prepare prepare_;
};

/// An op whose CQE result is an errno (negative) or a value of type `Result`.
template <class Result, class Prepare>
class [[nodiscard]] checked_op : public prepared_op<Prepare> {
 public:
  checked_op(io_ring& ring, op_context context, Prepare prepare) noexcept
      : prepared_op<Prepare>(ring, prepare), context_(context) {
    if (context.opens_fd) this->set_result_is_fd();
    if (context.creates != op_context::creation::none) this->set_undo(&remove_created);
  }

  Result await_resume() {
    const int res = this->take_result();
    if (res < 0) throw_op_error(-res, context_);
    if constexpr (!std::is_void_v<Result>) return static_cast<Result>(res);
  }

 private:
  static void remove_created(ring_op& self) noexcept {
    const op_context& made = static_cast<checked_op&>(self).context_;
    ::unlinkat(made.fd, made.second_path ? made.second_path : made.path,
               made.creates == op_context::creation::directory ? AT_REMOVEDIR : 0);
  }

  op_context context_;
};

template <class Result, class Prepare>
checked_op<Result, Prepare> make_checked_op(io_ring& ring, op_context context, Prepare prepare) {
  return {ring, context, prepare};
}

/// Fills a write SQE: `buffer` at `offset` (at most `max_transfer` bytes).
struct write_sqe {
  int fd;
  std::span<const std::byte> buffer;
  std::uint64_t offset;
  int rw_flags = 0;  ///< RWF_* (RWF_DSYNC: the write syncs its data before it completes)
  void operator()(io_uring_sqe& sqe) const noexcept {
    io_uring_prep_write(&sqe, fd, buffer.data(),
                        static_cast<unsigned>(std::min(buffer.size(), max_transfer)), offset);
    sqe.rw_flags = rw_flags;
  }
};

/// Tells memory checkers (Valgrind) that the kernel wrote `size` bytes at `data`: io_uring
/// writes them asynchronously, where a checker cannot see it.
void written_by_kernel(const void* data, std::size_t size) noexcept;

/// Fills a read SQE: into `buffer` from `offset` (at most `max_transfer` bytes).
struct read_sqe {
  int fd;
  std::span<std::byte> buffer;
  std::uint64_t offset;
  void operator()(io_uring_sqe& sqe) const noexcept {
    io_uring_prep_read(&sqe, fd, buffer.data(),
                       static_cast<unsigned>(std::min(buffer.size(), max_transfer)), offset);
  }
};

/// pread(2) through the ring; the bytes read count as written (`written_by_kernel`).
class [[nodiscard]] read_op : public checked_op<std::size_t, read_sqe> {
 public:
  read_op(io_ring& ring, int fd, std::span<std::byte> buffer, std::uint64_t offset) noexcept
      : checked_op(ring, {"read", fd}, {fd, buffer, offset}), buffer_(buffer.data()) {}
  std::size_t await_resume() {
    const std::size_t n = checked_op::await_resume();
    written_by_kernel(buffer_, n);
    return n;
  }

 private:
  std::byte* buffer_;
};

/// Fills a close SQE.
struct close_sqe {
  int fd;
  void operator()(io_uring_sqe& sqe) const noexcept { io_uring_prep_close(&sqe, fd); }
};

/// close(2) of `file`'s descriptor, which `file` keeps until the close has run: an op that
/// never runs (its coroutine or ring gone first) leaves it to `file` to close. Yields the
/// raw result (negative errno); `file` owns nothing once the close ran, even if it failed.
class [[nodiscard]] close_op : public prepared_op<close_sqe> {
 public:
  close_op(io_ring& ring, unique_fd& file) noexcept
      : prepared_op(ring, {file.get()}), file_(file) {
    set_closes(file);
  }
  int await_resume() noexcept {
    const int result = take_result();
    if (result != -ECANCELED) file_.release();
    return result;
  }

 private:
  unique_fd& file_;
};

/// Fills an unlinkat SQE for an absolute `path`.
struct unlink_sqe {
  const char* path;
  void operator()(io_uring_sqe& sqe) const noexcept {
    io_uring_prep_unlinkat(&sqe, AT_FDCWD, path, 0);
  }
};

/// Closing a file in one linked submission: write(2) of its last bytes (`rest` at
/// `offset`, when not empty), close(2), and unlinkat(2) of `remove` (when not null). The
/// close runs only if the write wrote everything, so a failed or short write leaves the
/// file open; the name is removed only once the file closed. Yields the three raw results
/// (negative errno; -ECANCELED for a step that never ran, 0 for one not asked for). `file`
/// keeps the descriptor throughout; the awaiter releases it once the close ran (abandoned
/// mid-flight, the op does). `rest` must fit one write (`max_transfer` bytes): a larger
/// one would be capped, and the kernel would count the capped write as complete and close
/// with the tail unwritten. `remove` must stay valid while the awaiter lives.
class [[nodiscard]] close_chain {
 public:
  struct results {
    int written;
    int closed;
    int removed;
  };

  close_chain(io_ring& ring, unique_fd& file, std::span<const std::byte> rest,
              std::uint64_t offset, const char* remove) noexcept
      : write_(ring, {file.get(), rest, offset}),
        close_(ring, file),
        unlink_(ring, {remove}),
        chain_(rest.empty() ? static_cast<ring_op&>(close_) : write_),
        writes_(!rest.empty()),
        removes_(remove != nullptr) {
    assert(rest.size() <= max_transfer);
    if (writes_) chain_.add(static_cast<int>(rest.size()), close_);
    if (removes_) chain_.add(0, unlink_);
  }

  bool await_ready() const noexcept { return chain_.await_ready(); }
  void await_suspend(std::coroutine_handle<> waiting) noexcept { chain_.await_suspend(waiting); }
  results await_resume() noexcept {
    chain_.await_resume();
    results done;
    done.written = writes_ ? linked_ops::result(write_) : 0;
    done.closed = close_.await_resume();
    done.removed = removes_ ? linked_ops::result(unlink_) : 0;
    return done;
  }

 private:
  prepared_op<write_sqe> write_;
  close_op close_;
  prepared_op<unlink_sqe> unlink_;
  linked_ops chain_;  // declared after the ops: cancels and waits before they go
  bool writes_;
  bool removes_;
};

class [[nodiscard]] statx_op : public ring_op {
 public:
  statx_op(io_ring& ring, int dirfd, const char* path, int flags, unsigned mask) noexcept;
  struct statx await_resume();

 private:
  static void prepare_into(ring_op& self, io_uring_sqe& sqe) noexcept;
  struct statx result_{};
  op_context context_;
  int flags_;
  unsigned mask_;
};

/// ftruncate: IORING_OP_FTRUNCATE (Linux 6.9, no liburing 2.3 helper, so prepared raw);
/// on older kernels a NOP carries it and the truncation runs synchronously on resume.
class [[nodiscard]] ftruncate_op : public ring_op {
 public:
  ftruncate_op(io_ring& ring, int fd, std::uint64_t length) noexcept;
  int await_resume();

 private:
  static void prepare_into(ring_op& self, io_uring_sqe& sqe) noexcept;
  int fd_;
  std::uint64_t length_;
  bool native_;
};

}  // namespace detail

/// One awaitable per syscall, each issued as one SQE, returning the syscall's result.
namespace ops {

/// IORING_OP_FTRUNCATE's value in the kernel's enum (newer than liburing 2.3's headers).
inline constexpr unsigned ftruncate_opcode = 55;

/// No operation: a full round trip through the ring.
inline auto nop(io_ring& ring) {
  return detail::make_checked_op<void>(ring, {"nop"},
                                       [](io_uring_sqe& s) { io_uring_prep_nop(&s); });
}

/// openat(2), including `O_TMPFILE`. Returns the new descriptor. Abandoned (its awaiter
/// destroyed) after it succeeded, it closes the descriptor, and with `O_CREAT | O_EXCL`
/// also removes the file it created: `path` must then stay valid while the awaiter lives.
inline auto openat(io_ring& ring, int dirfd, const char* path, int flags, mode_t mode) {
  return detail::make_checked_op<int>(
      ring,
      {"openat", dirfd, path, nullptr, true,
       (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL) ? detail::op_context::creation::file
                                                          : detail::op_context::creation::none},
      [=](io_uring_sqe& s) { io_uring_prep_openat(&s, dirfd, path, flags, mode); });
}

/// pread(2) at an explicit offset. Returns the bytes read (0 at end of file).
inline auto read(io_ring& ring, int fd, std::span<std::byte> buffer, std::uint64_t offset) {
  return detail::read_op(ring, fd, buffer, offset);
}

/// pwrite(2) at an explicit offset. Returns the bytes written (possibly fewer).
inline auto write(io_ring& ring, int fd, std::span<const std::byte> buffer,
                  std::uint64_t offset) {
  return detail::make_checked_op<std::size_t>(ring, {"write", fd},
                                              detail::write_sqe{fd, buffer, offset});
}

/// close(2).
inline auto close(io_ring& ring, int fd) {
  return detail::make_checked_op<int>(ring, {"close", fd}, detail::close_sqe{fd});
}

/// fsync(2), or fdatasync(2) when `datasync`.
inline auto fsync(io_ring& ring, int fd, bool datasync = false) {
  return detail::make_checked_op<int>(
      ring, {datasync ? "fdatasync" : "fsync", fd}, [=](io_uring_sqe& s) {
        io_uring_prep_fsync(&s, fd, datasync ? IORING_FSYNC_DATASYNC : 0u);
      });
}

/// ftruncate(2).
inline detail::ftruncate_op ftruncate(io_ring& ring, int fd, std::uint64_t length) {
  return {ring, fd, length};
}

/// unlinkat(2); `AT_REMOVEDIR` in `flags` removes a directory.
inline auto unlinkat(io_ring& ring, int dirfd, const char* path, int flags = 0) {
  return detail::make_checked_op<int>(
      ring, {flags & AT_REMOVEDIR ? "rmdir" : "unlinkat", dirfd, path},
      [=](io_uring_sqe& s) { io_uring_prep_unlinkat(&s, dirfd, path, flags); });
}

/// mkdirat(2). Abandoned after it succeeded, it removes the directory it created.
inline auto mkdirat(io_ring& ring, int dirfd, const char* path, mode_t mode) {
  return detail::make_checked_op<int>(
      ring, {"mkdirat", dirfd, path, nullptr, false, detail::op_context::creation::directory},
      [=](io_uring_sqe& s) { io_uring_prep_mkdirat(&s, dirfd, path, mode); });
}

/// linkat(2); with `AT_SYMLINK_FOLLOW` and `/proc/thread-self/fd/N` it names an `O_TMPFILE` file.
/// Abandoned after it succeeded, it removes the new name: a cancelled publish publishes
/// nothing (`new_path` must then stay valid while the awaiter lives).
inline auto linkat(io_ring& ring, int old_dirfd, const char* old_path, int new_dirfd,
                   const char* new_path, int flags) {
  return detail::make_checked_op<int>(
      ring, {"linkat", new_dirfd, old_path, new_path, false, detail::op_context::creation::file},
      [=](io_uring_sqe& s) {
        io_uring_prep_linkat(&s, old_dirfd, old_path, new_dirfd, new_path, flags);
      });
}

/// renameat2(2) (`flags` as renameat2: `RENAME_NOREPLACE`, `RENAME_EXCHANGE`).
inline auto renameat(io_ring& ring, int old_dirfd, const char* old_path, int new_dirfd,
                     const char* new_path, unsigned flags = 0) {
  return detail::make_checked_op<int>(
      ring, {"renameat", old_dirfd, old_path, new_path}, [=](io_uring_sqe& s) {
        io_uring_prep_renameat(&s, old_dirfd, old_path, new_dirfd, new_path, flags);
      });
}

/// statx(2). Returns the filled `struct statx`.
inline detail::statx_op statx(io_ring& ring, int dirfd, const char* path, int flags,
                              unsigned mask) {
  return {ring, dirfd, path, flags, mask};
}

}  // namespace ops
}  // namespace tempfile
