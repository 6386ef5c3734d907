#include <tempfile/temporary_file.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <exception>
#include <string>
#include <system_error>
#include <utility>

#include <tempfile/names.hpp>
#include <tempfile/ops.hpp>

#include "permissions.hpp"
#include "proc_fd.hpp"
#include "publish.hpp"
#include "publish_buffered.hpp"
#include "test_hooks.hpp"
#include "unnamed_file_reserve.hpp"

namespace tempfile {
namespace detail {
namespace {
std::atomic<bool> o_tmpfile_missing{false};

/// A real `O_TMPFILE` with the mode `opts` asks for.
std::pair<unique_fd, bool> unnamed_with_permissions(unique_fd fd, const options& opts,
                                                    const std::filesystem::path& dir) {
  apply_permissions(fd.get(), opts, dir);
  return {std::move(fd), true};
}
}  // namespace

void simulate_missing_o_tmpfile(bool missing) noexcept { o_tmpfile_missing = missing; }

task<std::pair<unique_fd, bool>> open_unnamed(io_ring& ring, const std::filesystem::path& dir,
                                              const options& opts) {
  if (!o_tmpfile_missing) {
    const bool reserved = ring.options().unnamed_file_reserve != 0;
    if (reserved)
      if (unique_fd fd = ring.extension<unnamed_file_reserve>().take(dir))
        co_return unnamed_with_permissions(std::move(fd), opts, dir);
    try {
      unique_fd fd(co_await open_tmpfile(ring, dir));
      if (reserved) ring.extension<unnamed_file_reserve>().stock(dir);
      co_return unnamed_with_permissions(std::move(fd), opts, dir);
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

}  // namespace detail

temporary_file::temporary_file(io_ring& ring, unique_fd fd, file_mode mode, long buffering,
                               std::filesystem::path dir, bool linkable, bool durable)
    : buffered_file(ring, std::move(fd), std::move(mode), buffering, std::move(dir),
                    described::by_directory),
      linkable_(linkable),
      durable_(durable) {}

task<temporary_file> temporary_file::create(io_ring& ring, options opts) {
  file_mode mode = file_mode::parse(opts.mode());
  std::filesystem::path dir = detail::resolve_dir(opts);
  auto [fd, linkable] = co_await detail::open_unnamed(ring, dir, opts);
  temporary_file file(ring, std::move(fd), std::move(mode), opts.buffering(), std::move(dir),
                      linkable, opts.durable());
  if (linkable) file.set_data_only_buffered();  // a real O_TMPFILE: nobody else reaches it
  co_return file;
}

task<void> temporary_file::link(std::filesystem::path target) {
  return publish(std::move(target), false);
}

task<void> temporary_file::replace(std::filesystem::path target) {
  return publish(std::move(target), true);
}

task<void> temporary_file::publish(std::filesystem::path target, bool replacing) {
  check_open();
  if (!linkable_) fail(EOPNOTSUPP, "link (filesystem without O_TMPFILE):");
  const std::filesystem::path absolute =
      target.is_absolute() ? std::move(target) : std::filesystem::absolute(target);
  const auto existing =
      replacing ? detail::existing_target::replace : detail::existing_target::refuse;
  // Only a durable publish asks where the file lives (see detail::link_file). The lambda is
  // named, not a temporary inside the co_await: g++ 12 would destroy its path twice.
  const bool beside_file = durable_ && detail::directory_of(absolute) == dir().native();
  auto link = [&ring = ring(), fd = descriptor(), beside_file, &absolute, existing,
               durable = durable_](detail::unwritten_bytes unwritten) {
    return detail::link_file(ring, fd, beside_file, absolute, existing, durable, unwritten);
  };
  detail::publish_outcome done = co_await publish_buffered(link);
  set_removal(removal::kept);
  if (done.directory_failure) std::rethrow_exception(done.directory_failure);
}

task<temporary_file> temporary_file::reopen() {
  check_open();
  co_await flush();
  set_data_beyond_buffer();  // the new handle may write
  const detail::proc_fd_path path(descriptor());
  int error = 0;
  unique_fd fd;
  try {
    fd.reset(co_await ops::openat(ring(), AT_FDCWD, path.c_str(), O_RDWR | O_CLOEXEC, 0));
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  if (error) detail::throw_proc_fd_error(error, "reopen " + path.string());
  co_return temporary_file(ring(), std::move(fd), file_mode::parse("r+b"),
                           static_cast<long>(buffer_size()), dir(), linkable_, durable_);
}

}  // namespace tempfile
