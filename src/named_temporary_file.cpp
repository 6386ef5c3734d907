#include <tempfile/named_temporary_file.hpp>

#include <fcntl.h>

#include <exception>
#include <utility>

#include <tempfile/names.hpp>
#include <tempfile/ops.hpp>

#include "publish.hpp"
#include "publish_buffered.hpp"

namespace tempfile {

task<named_temporary_file> named_temporary_file::create(io_ring& ring, options opts) {
  file_mode mode = file_mode::parse(opts.mode());
  const long buffering = opts.buffering();
  const bool durable = opts.durable();
  const removal when = !opts.auto_delete()      ? removal::kept
                       : opts.delete_on_close() ? removal::on_close
                                                : removal::on_destroy;
  // `opts` is read: moved on, as a copy of its directory allocates.
  created_file created = co_await mkstemp(ring, std::move(opts));
  named_temporary_file file(ring, std::move(created.fd), std::move(mode), buffering,
                            created.path);
  if (when == removal::kept)
    file.set_removal(removal::kept);
  else
    file.set_removal(when, std::move(created.path));
  file.durable_ = durable;
  co_return file;
}

task<void> named_temporary_file::persist(std::filesystem::path target) {
  return publish(std::move(target), true);
}

task<void> named_temporary_file::persist_noclobber(std::filesystem::path target) {
  return publish(std::move(target), false);
}

task<void> named_temporary_file::publish(std::filesystem::path target, bool replacing) {
  check_open();
  const std::filesystem::path absolute =
      target.is_absolute() ? std::move(target) : std::filesystem::absolute(target);
  const auto existing =
      replacing ? detail::existing_target::replace : detail::existing_target::refuse;
  auto rename = [&ring = ring(), fd = descriptor(), &source = name(), &absolute, existing,
               durable = durable_](detail::unwritten_bytes unwritten) {
    return detail::move_file(ring, fd, source, absolute, existing, durable, unwritten);
  };
  detail::publish_outcome done = co_await publish_buffered(rename);
  if (done.copy) replace_descriptor(std::move(done.copy));
  set_description(absolute);
  set_removal(removal::kept);
  if (done.directory_failure) std::rethrow_exception(done.directory_failure);
}

task<named_temporary_file> named_temporary_file::reopen() {
  check_open();
  co_await flush();
  unique_fd fd(co_await ops::openat(ring(), AT_FDCWD, name().c_str(),
                                    O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0));
  named_temporary_file other(ring(), std::move(fd), file_mode::parse("r+b"),
                             static_cast<long>(buffer_size()), name());
  other.set_removal(removal::kept);
  other.durable_ = durable_;
  co_return other;
}

}  // namespace tempfile
