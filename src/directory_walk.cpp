#include "directory_walk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <tempfile/temporary_directory.hpp>

#include "test_hooks.hpp"

namespace tempfile::detail {
namespace {

constexpr std::size_t default_listing_chunk = 32 * 1024;
std::atomic<std::size_t> listing_chunk{default_listing_chunk};

entry_kind kind_of(const open_directory& dir, const dirent64& d) {
  if (d.d_type == DT_DIR) return entry_kind::directory;
  if (d.d_type != DT_UNKNOWN) return entry_kind::other;
  struct stat st;
  if (::fstatat(dir.fd.get(), d.d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
    return entry_kind::directory;
  return entry_kind::other;  // a failure resurfaces from unlinkat, with its path
}

}  // namespace

void set_listing_chunk_size(std::size_t bytes) noexcept {
  listing_chunk = bytes != 0 ? bytes : default_listing_chunk;
}

std::size_t listing_chunk_size() noexcept { return listing_chunk; }

int listing::read_chunk(std::span<std::byte> buffer, std::string& names,
                        found_directories& directories) {
  const ssize_t length = ::getdents64(dir->fd.get(), buffer.data(), buffer.size());
  if (length <= 0) {
    finished = true;
    return length < 0 ? errno : 0;
  }
  for (ssize_t offset = 0; offset < length;) {
    const auto* d = reinterpret_cast<const dirent64*>(buffer.data() + offset);
    offset += d->d_reclen;
    if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) continue;
    const std::size_t name = names.size();
    names.append(d->d_name, std::strlen(d->d_name) + 1);
    if (kind_of(*dir, *d) == entry_kind::directory)
      directories.emplace_back(dir, name);
    else
      files.push_back(name);
  }
  return 0;
}

bool make_writable(open_directory& dir) noexcept {
  if (dir.inside_tree && !dir.chmod_tried) {
    dir.chmod_tried = true;
    dir.chmod_done = ::fchmod(dir.fd.get(), accessible_mode) == 0;
  }
  return dir.chmod_done;
}

}  // namespace tempfile::detail
