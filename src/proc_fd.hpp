#pragma once
// Naming an open file through /proc, to link or reopen a file that may have no name.

#include <array>
#include <string>

namespace tempfile::detail {

/// "/proc/thread-self/fd/N": the calling thread's descriptor table (/proc/self names the
/// thread group leader's, which a thread that unshared its table does not use). Held in
/// place: naming a descriptor, once per publish, allocates nothing.
class proc_fd_path {
 public:
  explicit proc_fd_path(int fd) noexcept;
  const char* c_str() const noexcept { return text_.data(); }
  std::string string() const { return text_.data(); }

 private:
  std::array<char, sizeof("/proc/thread-self/fd/-2147483648")> text_;
};

/// Whether /proc is mounted (so `proc_fd_path` names something).
bool proc_mounted() noexcept;

/// Throws `error` from an op on `proc_fd_path`, saying so when it is ENOENT because /proc
/// is not mounted; `operation` names what was attempted.
[[noreturn]] void throw_proc_fd_error(int error, const std::string& operation);

}  // namespace tempfile::detail
