#include "storage_syncs.hpp"

#include <fcntl.h>
#include <linux/magic.h>  // TMPFS_MAGIC, RAMFS_MAGIC
#include <sys/stat.h>
#include <sys/vfs.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "publish_steps.hpp"

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U  // Linux 6.8: a mount id never used again
#endif

namespace tempfile::detail {
namespace {

/// Asks the filesystem itself: a round trip to the server on NFS or FUSE.
bool filesystem_syncs(int fd) noexcept {
  struct statfs filesystem;
  if (::fstatfs(fd, &filesystem) != 0) return true;
  return filesystem.f_type != TMPFS_MAGIC && filesystem.f_type != RAMFS_MAGIC;
}

struct known_mount {
  std::uint64_t id;
  bool syncs;
};

/// What this thread learned, most recent last; a handful of mounts is the usual case.
constexpr std::size_t mounts_kept = 16;
thread_local std::vector<known_mount> known_mounts;

/// Whether the file is in shared memory (tmpfs, /dev/shm, a memfd; hugetlbfs too), whose
/// fsync does nothing: the only files with seals, so F_GET_SEALS answers for them alone,
/// and in less time than any attribute query (it copies nothing out).
bool shmem_file(int fd) noexcept { return ::fcntl(fd, F_GET_SEALS) >= 0; }

bool mount_syncs(int fd, std::uint64_t mount) {
  const auto known = std::find_if(known_mounts.begin(), known_mounts.end(),
                                  [mount](const known_mount& m) { return m.id == mount; });
  if (known != known_mounts.end()) return known->syncs;
  const bool syncs = filesystem_syncs(fd);
  if (known_mounts.size() == mounts_kept) known_mounts.erase(known_mounts.begin());
  known_mounts.push_back({mount, syncs});
  return syncs;
}

}  // namespace

bool syncs_reach_storage(int fd) noexcept {
  if (syncing_on_every_filesystem()) return true;
  if (shmem_file(fd)) return false;
  struct statx mount;
  // Only the mount id: no filesystem revalidates attributes for it.
  if (::statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID_UNIQUE, &mount) != 0 ||
      !(mount.stx_mask & STATX_MNT_ID_UNIQUE))
    return filesystem_syncs(fd);
  try {
    return mount_syncs(fd, mount.stx_mnt_id);
  } catch (...) {  // no memory to remember it
    return filesystem_syncs(fd);
  }
}

}  // namespace tempfile::detail
