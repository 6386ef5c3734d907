#include "proc_fd.hpp"

#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace tempfile::detail {

std::string proc_fd_path(int fd) { return "/proc/thread-self/fd/" + std::to_string(fd); }

bool proc_mounted() noexcept { return ::access("/proc/thread-self/fd", F_OK) == 0; }

void throw_proc_fd_error(int error, const std::string& operation) {
  if (error == ENOENT && !proc_mounted())
    throw std::system_error(error, std::generic_category(),
                            operation + ": /proc is not mounted (it names the open file)");
  throw std::system_error(error, std::generic_category(), operation);
}

}  // namespace tempfile::detail
