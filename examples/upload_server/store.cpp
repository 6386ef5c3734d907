// What every storage shares: the store directory's descriptor and names resolved through it.

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "storage.hpp"

namespace upload_server {

bool storage::taken(const std::string& name) const {
  struct stat about;
  return ::fstatat(store_dir_, name.c_str(), &about, AT_SYMLINK_NOFOLLOW) == 0;
}

std::filesystem::path storage::store_path() const {
  // The magic link names the directory the descriptor holds, wherever it is now.
  return "/proc/self/fd/" + std::to_string(store_dir_);
}

tempfile::unique_fd open_store(const std::filesystem::path& store) {
  tempfile::unique_fd fd(::open(store.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw std::system_error(errno, std::generic_category(), "open " + store.string());
  return fd;
}

}  // namespace upload_server
