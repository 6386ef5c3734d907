#include "proc_fd.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>
#include <system_error>

namespace tempfile::detail {

proc_fd_path::proc_fd_path(int fd) noexcept {
  constexpr std::string_view prefix = "/proc/thread-self/fd/";
  std::memcpy(text_.data(), prefix.data(), prefix.size());
  // Room for any int and the terminating NUL, by the array's size.
  char* end = std::to_chars(text_.data() + prefix.size(), text_.data() + text_.size() - 1, fd).ptr;
  *end = '\0';
}

bool proc_mounted() noexcept { return ::access("/proc/thread-self/fd", F_OK) == 0; }

void throw_proc_fd_error(int error, const std::string& operation) {
  if (error == ENOENT && !proc_mounted())
    throw std::system_error(error, std::generic_category(),
                            operation + ": /proc is not mounted (it names the open file)");
  throw std::system_error(error, std::generic_category(), operation);
}

}  // namespace tempfile::detail
