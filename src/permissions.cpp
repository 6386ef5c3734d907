#include "permissions.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace tempfile::detail {
namespace {

[[noreturn]] void throw_chmod_error(const std::filesystem::path& path) {
  throw std::system_error(errno, std::generic_category(), "chmod " + path.string());
}

}  // namespace

// The creating call's mode is filtered by the umask; a chmod afterwards is not.
void apply_permissions(int fd, const options& opts, const std::filesystem::path& path) {
  if (const auto mode = opts.permissions(); mode && ::fchmod(fd, *mode & 07777) != 0)
    throw_chmod_error(path);
}

void apply_directory_permissions(const std::filesystem::path& path, const options& opts) {
  if (const auto mode = opts.permissions(); mode && ::fchmodat(AT_FDCWD, path.c_str(), *mode & 07777, 0) != 0)
    throw_chmod_error(path);
}

}  // namespace tempfile::detail
