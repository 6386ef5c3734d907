#include <tempfile/named_temporary_file.hpp>

#include <fcntl.h>

#include <tempfile/names.hpp>
#include <tempfile/ops.hpp>

namespace tempfile {

task<named_temporary_file> named_temporary_file::create(io_ring& ring, options opts) {
  file_mode mode = file_mode::parse(opts.mode());
  created_file created = co_await mkstemp(ring, opts);
  named_temporary_file file(ring, std::move(created.fd), std::move(mode), opts.buffering(),
                            created.path);
  if (opts.auto_delete())
    file.set_removal(opts.delete_on_close() ? removal::on_close : removal::on_destroy,
                     created.path);
  else
    file.set_removal(removal::kept);
  co_return file;
}

task<void> named_temporary_file::persist(std::filesystem::path target) {
  check_open();
  co_await flush();
  const std::filesystem::path absolute = std::filesystem::absolute(target);
  co_await ops::renameat(ring(), AT_FDCWD, name().c_str(), AT_FDCWD, absolute.c_str());
  set_description(absolute);
  set_removal(removal::kept);
}

}  // namespace tempfile
