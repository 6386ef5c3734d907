#include <tempfile/temporary_file.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>

#include <tempfile/names.hpp>
#include <tempfile/ops.hpp>

#include "unnamed_file_reserve.hpp"

namespace tempfile {
namespace detail {
namespace {
std::atomic<bool> o_tmpfile_missing{false};
}  // namespace

void simulate_missing_o_tmpfile(bool missing) noexcept { o_tmpfile_missing = missing; }

task<std::pair<unique_fd, bool>> open_unnamed(io_ring& ring, std::filesystem::path dir,
                                              const options& opts) {
  if (!o_tmpfile_missing) {
    const bool reserved = ring.options().unnamed_file_reserve != 0;
    if (reserved)
      if (unique_fd fd = ring.extension<unnamed_file_reserve>().take(dir))
        co_return std::pair(std::move(fd), true);
    try {
      unique_fd fd(co_await open_tmpfile(ring, dir));
      if (reserved) ring.extension<unnamed_file_reserve>().stock(dir);
      co_return std::pair(std::move(fd), true);
    } catch (const std::system_error& e) {
      // Filesystems without O_TMPFILE answer EOPNOTSUPP; kernels that do not know the flag
      // EISDIR or EINVAL. Everything else is a real error.
      const int refused = e.code().value();
      if (refused != EOPNOTSUPP && refused != EISDIR && refused != EINVAL) throw;
    }
  }
  created_file named = co_await mkstemp(ring, options(opts).dir(dir));
  int error = 0;
  try {
    co_await ops::unlinkat(ring, AT_FDCWD, named.path.c_str(), 0);
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  if (error) {
    ::unlink(named.path.c_str());  // leave nothing behind
    throw std::system_error(error, std::generic_category(), "unlink " + named.path.string());
  }
  co_return std::pair(std::move(named.fd), false);
}

task<void> link_tmpfile(io_ring& ring, int fd, std::filesystem::path target) {
  // The calling thread's table: /proc/self is the thread group leader's, which differs
  // after unshare(CLONE_FILES) and is gone once the main thread has exited.
  const std::string source = "/proc/thread-self/fd/" + std::to_string(fd);
  int error = 0;
  try {
    co_await ops::linkat(ring, AT_FDCWD, source.c_str(), AT_FDCWD, target.c_str(),
                         AT_SYMLINK_FOLLOW);
    co_return;
  } catch (const std::system_error& e) {
    if (e.code().value() != ENOENT || ::access("/proc/thread-self", F_OK) == 0) throw;
    error = e.code().value();
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

}  // namespace detail

temporary_file::temporary_file(io_ring& ring, unique_fd fd, file_mode mode, long buffering,
                               std::filesystem::path dir, bool linkable)
    : buffered_file(ring, std::move(fd), std::move(mode), buffering,
                    std::move(dir) / "(unnamed temporary file)"),
      linkable_(linkable) {}

task<temporary_file> temporary_file::create(io_ring& ring, options opts) {
  file_mode mode = file_mode::parse(opts.mode());
  const std::filesystem::path dir = detail::resolve_dir(opts);
  auto [fd, linkable] = co_await detail::open_unnamed(ring, dir, opts);
  co_return temporary_file(ring, std::move(fd), std::move(mode), opts.buffering(), dir, linkable);
}

task<void> temporary_file::link(std::filesystem::path target) {
  check_open();
  if (!linkable_) fail(EOPNOTSUPP, "link (filesystem without O_TMPFILE):");
  co_await flush();
  co_await detail::link_tmpfile(ring(), fileno(), target);
  set_removal(removal::kept);
}

}  // namespace tempfile
