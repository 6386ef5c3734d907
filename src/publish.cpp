#include "publish.hpp"

#include <fcntl.h>
#include <stdio.h>  // RENAME_NOREPLACE
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <tempfile/detail/background_writes.hpp>
#include <tempfile/ops.hpp>
#include <tempfile/tempdir.hpp>

#include "direct_slots.hpp"
#include "proc_fd.hpp"
#include "publish_trace.hpp"
#include "random_name.hpp"

namespace tempfile::detail {
namespace fs = std::filesystem;
namespace {

/// Largest piece a cross-filesystem copy moves per read and write.
constexpr std::size_t copy_chunk = 1 << 20;

thread_local std::vector<std::string>* trace = nullptr;
thread_local std::string failing_step;
thread_local int failing_error = 0;

/// Records `step` for a `publish_trace` and throws the failure a test injected there.
void begin_step(const char* step, const fs::path& path) {
  if (trace) trace->emplace_back(step);
  if (failing_error != 0 && failing_step == step)
    throw std::system_error(failing_error, std::generic_category(),
                            std::string(step) + " " + path.string());
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

/// Records `step` of a linked chain for a `publish_trace`; a failure a test injected there
/// is made by the kernel, which breaks the chain at `op` as a real one would.
void begin_chained_step(const char* step, ring_op& op) {
  if (trace) trace->emplace_back(step);
  if (failing_error != 0 && failing_step == step) fail_in_kernel(op, failing_error);
}

/// Throws a failed sync (`result` < 0): the fdatasync of a file to publish (`datasync`) or
/// the fsync of a directory, naming `path`.
void check_sync(int result, bool datasync, const fs::path& path) {
  if (result >= 0) return;
  throw std::system_error(-result, std::generic_category(),
                          (datasync ? "fdatasync before publishing at " : "fsync ") +
                              path.string());
}

/// Awaits `publish` (`step`: an op giving the file open as `fd` the name `target`), after
/// an fdatasync of `fd` linked before it when `sync_first`: the name appears only once the
/// data is synced, and both take one round trip. Resuming throws the sync's failure, or
/// what `publish` throws.
template <class Publish>
class synced_publish {
 public:
  synced_publish(io_ring& ring, int fd, const fs::path& target, bool sync_first,
                 const char* step, Publish& publish)
      : datasync_(ops::fsync(ring, fd, true)),
        publish_(publish),
        target_(target),
        sync_first_(sync_first),
        chain_(sync_first ? static_cast<ring_op&>(datasync_) : publish) {
    if (sync_first) {
      begin_chained_step("fdatasync", datasync_);
      chain_.add(0, publish);
    }
    begin_chained_step(step, publish);
  }

  bool await_ready() const noexcept { return chain_.await_ready(); }
  void await_suspend(std::coroutine_handle<> waiting) noexcept { chain_.await_suspend(waiting); }
  void await_resume() {
    chain_.await_resume();
    if (sync_first_) check_sync(linked_ops::result(datasync_), true, target_);
    publish_.await_resume();
  }

 private:
  decltype(ops::fsync(std::declval<io_ring&>(), 0, true)) datasync_;
  Publish& publish_;
  const fs::path& target_;
  bool sync_first_;
  linked_ops chain_;  // declared after the sync: cancels and waits before it goes
};

/// Links the file open as `fd` to `target`, syncing its data first when `sync_first`;
/// throws what linkat says (EEXIST, EXDEV, …). Through the calling thread's
/// /proc/thread-self/fd/N, or where /proc is not mounted, through `fd` itself with
/// AT_EMPTY_PATH (which needs CAP_DAC_READ_SEARCH before Linux 6.10); ENOENT saying so when
/// neither works.
task<void> link_at(io_ring& ring, int fd, fs::path target, bool sync_first) {
  const std::string source = proc_fd_path(fd);
  int error = 0;
  try {
    auto link = ops::linkat(ring, AT_FDCWD, source.c_str(), AT_FDCWD, target.c_str(),
                            AT_SYMLINK_FOLLOW);
    co_await synced_publish(ring, fd, target, sync_first, "linkat", link);
    co_return;
  } catch (const std::system_error& e) {
    if (e.code().value() != ENOENT || proc_mounted()) throw;
  }
  try {
    co_await ops::linkat(ring, fd, "", AT_FDCWD, target.c_str(), AT_EMPTY_PATH);
    co_return;
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  throw std::system_error(error, std::generic_category(),
                          "linkat " + target.string() +
                              ": /proc is not mounted, and linkat with AT_EMPTY_PATH was "
                              "refused (it needs CAP_DAC_READ_SEARCH)");
}

/// Links the file open as `fd` under a fresh hidden name in `dir`, syncing its data first
/// when `sync_first`; returns that name.
task<fs::path> link_fresh_name(io_ring& ring, int fd, fs::path dir, bool sync_first) {
  for (int attempt = 0; attempt < tmp_max; ++attempt, sync_first = false) {
    std::string name = ".";  // hidden; built in steps (g++ 12 -O2 warns on "." + string)
    name += random_name();
    name += ".publishing";
    fs::path fresh = dir / name;
    bool taken = false;
    try {
      co_await link_at(ring, fd, fresh, sync_first);
    } catch (const std::system_error& e) {
      if (e.code().value() != EEXIST) throw;
      taken = true;
    }
    if (!taken) co_return fresh;
  }
  throw std::system_error(EEXIST, std::generic_category(),
                          "no free name to publish through in " + dir.string());
}

/// Removes a name that must not survive: through the ring, else synchronously.
task<void> remove_name(io_ring& ring, fs::path name) {
  bool removed = true;
  try {
    begin_step("unlinkat", name);
    co_await ops::unlinkat(ring, AT_FDCWD, name.c_str());
  } catch (const std::system_error&) {
    removed = false;
  }
  if (!removed) ::unlink(name.c_str());
}

/// Renames `from` (open as `fd`) to `to`, syncing its data first when `sync_first`.
task<void> rename_at(io_ring& ring, int fd, fs::path from, fs::path to, unsigned flags,
                     bool sync_first) {
  auto rename = ops::renameat(ring, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags);
  co_await synced_publish(ring, fd, to, sync_first, "renameat", rename);
}

/// A fresh name to be renamed away, removed synchronously if the publish is destroyed
/// (cancelled) before that: no fresh name outlives a cancellation either.
class fresh_name {
 public:
  explicit fresh_name(fs::path name) : name_(std::move(name)) {}
  fresh_name(const fresh_name&) = delete;
  fresh_name& operator=(const fresh_name&) = delete;
  ~fresh_name() {
    if (!gone_) ::unlink(name_.c_str());
  }
  const fs::path& path() const noexcept { return name_; }
  void gone() noexcept { gone_ = true; }

 private:
  fs::path name_;
  bool gone_ = false;
};

/// `link_file` without the copy: `target` is on the file's filesystem. Syncs the data
/// first when `durable`.
task<void> link_here(io_ring& ring, int fd, fs::path target, existing_target existing,
                     bool durable) {
  if (existing == existing_target::refuse) {
    co_await link_at(ring, fd, target, durable);
    co_return;
  }
  // linkat never replaces; renameat does, atomically, but needs a name to move.
  fresh_name fresh(co_await link_fresh_name(ring, fd, target.parent_path(), durable));
  std::exception_ptr failure;
  try {
    co_await rename_at(ring, fd, fresh.path(), target, 0, false);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) co_await remove_name(ring, fresh.path());
  fresh.gone();
  if (failure) std::rethrow_exception(failure);
}

/// Copies the first `size` bytes of `from` into `to` through the ring.
task<void> copy_bytes(io_ring& ring, int from, int to, std::uint64_t size) {
  std::vector<std::byte> buffer(static_cast<std::size_t>(std::min<std::uint64_t>(size, copy_chunk)));
  std::uint64_t offset = 0;
  while (offset < size) {
    const std::size_t got = co_await ops::read(ring, from, buffer, offset);
    if (got == 0) break;  // the file shrank meanwhile
    co_await write_fully(ring, to, std::span(buffer.data(), got),
                         static_cast<std::int64_t>(offset));
    offset += got;
  }
}

/// `copy_bytes`, its errors naming `source` (empty: the file has no name) and `target`.
task<void> copy_data(io_ring& ring, int from, int to, std::uint64_t size, fs::path source,
                     fs::path target) {
  begin_step("copy", target);
  int error = 0;
  try {
    co_await copy_bytes(ring, from, to, size);
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  if (error) {
    std::string what = "copy ";
    if (!source.empty()) what += source.string() + " ";
    throw std::system_error(error, std::generic_category(), what + "to " + target.string());
  }
}

/// Copies the file open as `fd` (named `source`, or empty) into a new `O_TMPFILE` file in
/// `target`'s directory, with the same mode, and publishes that; returns its descriptor.
/// Reads `fd` itself: every file is opened read-write, and a reopen would check the mode
/// bits again (refused for a file its owner may not read).
task<unique_fd> publish_copy(io_ring& ring, int fd, fs::path source, fs::path target,
                             existing_target existing, bool durable) {
  struct stat st;
  if (::fstat(fd, &st) != 0) throw_errno("fstat fd " + std::to_string(fd));

  const fs::path dir = target.parent_path();
  unique_fd copy(co_await ops::openat(ring, AT_FDCWD, dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC,
                                      0600));
  if (::fchmod(copy.get(), st.st_mode & 07777) != 0) throw_errno("chmod new file in " + dir.string());
  co_await copy_data(ring, fd, copy.get(), static_cast<std::uint64_t>(st.st_size), source, target);
  co_await link_here(ring, copy.get(), target, existing, durable);
  co_return copy;
}

/// Whether the file open as `fd` is on another filesystem than the directory `dir`, where
/// no link or rename can name it. False when `dir` cannot be examined: the link or rename
/// then says why.
bool on_other_filesystem(int fd, const fs::path& dir) {
  struct stat file, directory;
  return ::fstat(fd, &file) == 0 && ::stat(dir.c_str(), &directory) == 0 &&
         file.st_dev != directory.st_dev;
}

/// Closes direct descriptor `slot`.
auto close_direct(io_ring& ring, unsigned slot) {
  return make_checked_op<int>(ring, {"close"},
                              [=](io_uring_sqe& s) { io_uring_prep_close_direct(&s, slot); });
}

/// `sync_directory` as one linked chain on direct descriptor `slot` (a direct open takes no
/// O_CLOEXEC: the descriptor is the ring's, never the process's): open, fsync, close.
task<void> sync_directory_direct(io_ring& ring, fs::path dir, unsigned slot) {
  auto open = make_checked_op<int>(ring, {"openat", AT_FDCWD, dir.c_str()}, [&dir, slot](io_uring_sqe& s) {
    io_uring_prep_openat_direct(&s, AT_FDCWD, dir.c_str(), O_RDONLY | O_DIRECTORY, 0, slot);
  });
  auto sync = make_checked_op<int>(ring, {"fsync"}, [=](io_uring_sqe& s) {
    io_uring_prep_fsync(&s, static_cast<int>(slot), 0);
    s.flags |= IOSQE_FIXED_FILE;
  });
  auto close = close_direct(ring, slot);
  begin_chained_step("fsync directory", sync);
  linked_ops chain(open, 0, sync);
  chain.add(0, close);
  co_await chain;
  (void)open.await_resume();  // throws naming the directory
  const int synced = linked_ops::result(sync);
  if (synced < 0) {  // the close never ran: the slot still holds the directory
    try {
      co_await close_direct(ring, slot);
    } catch (const std::system_error&) {  // the failed sync is what to report
    }
  }
  check_sync(synced, false, dir);
}

/// Whether a durable publish of `fd` at `target` must copy: found before syncing, so that
/// only the copy is synced. EXDEV may still follow (a bind mount shares its device), and a
/// copy with it.
bool crosses_before_sync(int fd, const fs::path& target, bool durable) {
  return durable && on_other_filesystem(fd, target.parent_path());
}

}  // namespace

publish_trace::publish_trace() noexcept : outer_(std::exchange(trace, &steps_)) {}

publish_trace::~publish_trace() { trace = outer_; }

void simulate_publish_failure(std::string step, int error) {
  failing_step = std::move(step);
  failing_error = error;
}

task<void> link_file(io_ring& ring, int fd, fs::path target, existing_target existing,
                     bool durable) {
  bool crossed = crosses_before_sync(fd, target, durable);
  if (!crossed) {
    try {
      co_await link_here(ring, fd, target, existing, durable);
    } catch (const std::system_error& e) {
      if (e.code().value() != EXDEV) throw;
      crossed = true;
    }
  }
  if (crossed) co_await publish_copy(ring, fd, fs::path(), target, existing, durable);
}

task<unique_fd> move_file(io_ring& ring, int fd, fs::path source, fs::path target,
                          existing_target existing, bool durable) {
  bool crossed = crosses_before_sync(fd, target, durable);
  if (!crossed) {
    const unsigned flags = existing == existing_target::refuse ? RENAME_NOREPLACE : 0;
    try {
      co_await rename_at(ring, fd, source, target, flags, durable);
    } catch (const std::system_error& e) {
      if (e.code().value() != EXDEV) throw;
      crossed = true;
    }
  }
  if (!crossed) co_return unique_fd();
  unique_fd copy = co_await publish_copy(ring, fd, source, target, existing, durable);
  begin_step("unlinkat", source);
  co_await ops::unlinkat(ring, AT_FDCWD, source.c_str());
  co_return copy;
}

task<void> sync_directory(io_ring& ring, fs::path dir) {
  lent_slot slot(ring);
  if (slot) {
    co_await sync_directory_direct(ring, dir, *slot);
    co_return;
  }
  unique_fd directory(co_await ops::openat(ring, AT_FDCWD, dir.c_str(),
                                           O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
  begin_step("fsync directory", dir);
  int result = 0;
  try {
    result = co_await ops::fsync(ring, directory.get());
  } catch (const std::system_error& e) {
    result = -e.code().value();
  }
  check_sync(result, false, dir);
}

}  // namespace tempfile::detail
