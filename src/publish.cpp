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

#include "directory_sync.hpp"
#include "proc_fd.hpp"
#include "publish_chain.hpp"
#include "random_name.hpp"
#include "storage_syncs.hpp"

namespace tempfile::detail {
namespace fs = std::filesystem;
namespace {

/// Largest piece a cross-filesystem copy moves per read and write.
constexpr std::size_t copy_chunk = 1 << 20;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// The steps every publish goes through (link_at, rename_at, replace_at, link_here, and
// link_file and move_file below) are awaited at once by callers that hold the paths
// meanwhile, so they take them by reference: a copy of a path allocates. The rarer steps
// keep their copies.

/// Links the file open as `fd` to `target` in a chain as `plan` says; throws what linkat
/// says (EEXIST, EXDEV, …). Through the calling thread's /proc/thread-self/fd/N, or where
/// /proc is not mounted, through `fd` itself with AT_EMPTY_PATH (which needs
/// CAP_DAC_READ_SEARCH before Linux 6.10); ENOENT saying so when neither works.
task<publish_outcome> link_at(io_ring& ring, int fd, const fs::path& target, chain_plan plan) {
  const proc_fd_path source(fd);
  int error = 0;
  try {
    auto link = ops::linkat(ring, AT_FDCWD, source.c_str(), AT_FDCWD, target.c_str(),
                            AT_SYMLINK_FOLLOW);
    publish_chain chain(ring, fd, target, plan, "linkat", link);
    co_return co_await chain.run();
  } catch (const std::system_error& e) {
    if (e.code().value() != ENOENT || proc_mounted()) throw;
  }
  // The linkat ran, so everything planned before it completed.
  publish_outcome done;
  done.written = static_cast<int>(plan.unwritten.bytes.size());
  try {
    co_await ops::linkat(ring, fd, "", AT_FDCWD, target.c_str(), AT_EMPTY_PATH);
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  if (!error) {
    if (plan.sync_directory)
      done.directory_failure = co_await sync_directory_reporting(ring, target.parent_path());
    co_return done;
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
      const chain_plan plan{unwritten_bytes(), sync_first, false};
      co_await link_at(ring, fd, fresh, plan);
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

/// Renames `from` (open as `fd`) to `to` in a chain as `plan` says.
task<publish_outcome> rename_at(io_ring& ring, int fd, const fs::path& from, const fs::path& to,
                                unsigned flags, chain_plan plan) {
  auto rename = ops::renameat(ring, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags);
  publish_chain chain(ring, fd, to, plan, "renameat", rename);
  co_return co_await chain.run();
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

/// Links the file open as `fd` to `target`, replacing what is there: linkat never
/// replaces; renameat does, atomically, but needs a name to move.
task<publish_outcome> replace_at(io_ring& ring, int fd, const fs::path& target, bool durable) {
  fresh_name fresh(co_await link_fresh_name(ring, fd, target.parent_path(), durable));
  publish_outcome done;
  std::exception_ptr failure;
  try {
    const chain_plan plan{unwritten_bytes(), false, durable};
    done = co_await rename_at(ring, fd, fresh.path(), target, 0, plan);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) co_await remove_name(ring, fresh.path());
  fresh.gone();
  if (failure) std::rethrow_exception(failure);
  co_return done;
}

/// `link_file` without the copy: `target` is on the file's filesystem. Only a refusing
/// link writes `unwritten` (a replacing one is given none). Not a coroutine itself: every
/// publish passes here, and a frame fewer is a step fewer per file.
task<publish_outcome> link_here(io_ring& ring, int fd, const fs::path& target,
                                existing_target existing, bool durable, unwritten_bytes unwritten) {
  durable = durable && syncs_reach_storage(fd);  // tmpfs: the same outcome without syncs
  if (existing == existing_target::refuse)
    return link_at(ring, fd, target, chain_plan{unwritten, durable, durable});
  return replace_at(ring, fd, target, durable);
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
/// `target`'s directory, with the same mode, and publishes that, its descriptor in the outcome.
/// Reads `fd` itself: every file is opened read-write, and a reopen would check the mode
/// bits again (refused for a file its owner may not read).
task<publish_outcome> publish_copy(io_ring& ring, int fd, fs::path source, fs::path target,
                                   existing_target existing, bool durable) {
  struct stat st;
  if (::fstat(fd, &st) != 0) throw_errno("fstat fd " + std::to_string(fd));

  const fs::path dir = target.parent_path();
  unique_fd copy(co_await ops::openat(ring, AT_FDCWD, dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC,
                                      0600));
  if (::fchmod(copy.get(), st.st_mode & 07777) != 0) throw_errno("chmod new file in " + dir.string());
  co_await copy_data(ring, fd, copy.get(), static_cast<std::uint64_t>(st.st_size), source, target);
  publish_outcome done = co_await link_here(ring, copy.get(), target, existing, durable,
                                           unwritten_bytes());
  done.copy = std::move(copy);
  co_return done;
}

/// Whether the file open as `fd` is on another filesystem than the directory `dir`, where
/// no link or rename can name it. False when `dir` cannot be examined: the link or rename
/// then says why.
bool on_other_filesystem(int fd, const fs::path& dir) {
  struct stat file, directory;
  return ::fstat(fd, &file) == 0 && ::stat(dir.c_str(), &directory) == 0 &&
         file.st_dev != directory.st_dev;
}

/// Whether a durable publish of `fd` at `target` must copy: found before syncing, so that
/// only the copy is synced. EXDEV may still follow (a bind mount shares its device), and a
/// copy with it. A target `beside_file`, in the directory the file was made in, is taken to
/// be on its filesystem without asking (two system calls fewer); were something mounted
/// there since, the link's EXDEV still leads to the copy.
bool crosses_before_sync(int fd, bool beside_file, const fs::path& target, bool durable) {
  return durable && !beside_file && on_other_filesystem(fd, target.parent_path());
}

}  // namespace

task<publish_outcome> link_file(io_ring& ring, int fd, bool beside_file, const fs::path& target,
                                existing_target existing, bool durable,
                                unwritten_bytes unwritten) {
  bool crossed = crosses_before_sync(fd, beside_file, target, durable);
  // Only a chain that links the file itself writes the unwritten bytes.
  if (!unwritten.bytes.empty() && (crossed || existing == existing_target::replace))
    co_return publish_outcome();
  if (!crossed) {
    try {
      co_return co_await link_here(ring, fd, target, existing, durable, unwritten);
    } catch (const std::system_error& e) {
      if (e.code().value() != EXDEV) throw;
      crossed = true;  // said by the linkat: everything before it in the chain completed
    }
  }
  publish_outcome done = co_await publish_copy(ring, fd, fs::path(), target, existing, durable);
  done.written = static_cast<int>(unwritten.bytes.size());
  done.copy.reset();  // the file goes on with its own descriptor
  co_return done;
}

task<publish_outcome> move_file(io_ring& ring, int fd, const fs::path& source,
                                const fs::path& target, existing_target existing, bool durable,
                                unwritten_bytes unwritten) {
  bool crossed =
      crosses_before_sync(fd, directory_of(source) == directory_of(target), target, durable);
  if (!unwritten.bytes.empty() && crossed) co_return publish_outcome();
  if (!crossed) {
    const unsigned flags = existing == existing_target::refuse ? RENAME_NOREPLACE : 0;
    const bool syncs = durable && syncs_reach_storage(fd);
    try {
      const chain_plan plan{unwritten, syncs, syncs};
      co_return co_await rename_at(ring, fd, source, target, flags, plan);
    } catch (const std::system_error& e) {
      if (e.code().value() != EXDEV) throw;
      crossed = true;
    }
  }
  publish_outcome done = co_await publish_copy(ring, fd, source, target, existing, durable);
  done.written = static_cast<int>(unwritten.bytes.size());
  begin_step("unlinkat", source);
  co_await ops::unlinkat(ring, AT_FDCWD, source.c_str());
  co_return done;
}

std::string_view directory_of(const fs::path& path) noexcept {
  const std::string_view text = path.native();
  const std::size_t slash = text.rfind('/');
  return text.substr(0, slash == 0 ? 1 : slash);
}

task<void> sync_directory(io_ring& ring, fs::path dir) {
  directory_sync chained(ring, dir.native());
  if (chained) {
    linked_ops& chain = chained.chain(nullptr);  // named: g++ 12 would copy the call's result
    co_await chain;
    chained.check_opened();
    if (std::exception_ptr failure = chained.sync_failure()) std::rethrow_exception(failure);
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

task<std::exception_ptr> sync_directory_reporting(io_ring& ring, fs::path dir) {
  std::exception_ptr failure;
  try {
    co_await sync_directory(ring, std::move(dir));
  } catch (...) {
    failure = std::current_exception();
  }
  co_return failure;
}

}  // namespace tempfile::detail
