#include "tree_remover.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include <tempfile/ops.hpp>
#include <tempfile/when_all.hpp>

#include "proc_fd.hpp"

namespace tempfile::detail {
namespace {

/// Removal attempts per entry. A retry follows a change seen in a race: a directory swapped
/// for a symlink (or back), or entries added to a directory after it was emptied.
constexpr int attempts_per_entry = 4;
constexpr int directory_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

/// Awaits the op `make_op()` returns; yields its result, or -errno instead of throwing.
template <class MakeOp>
task<int> result_or_errno(MakeOp make_op) {
  int result;
  try {
    result = co_await make_op();
  } catch (const std::system_error& e) {
    result = -e.code().value();
  }
  co_return result;
}

std::string path_of(const open_directory& parent, const char* name) {
  return parent.path + '/' + name;
}

}  // namespace

task<void> tree_remover::remove(std::filesystem::path root) {
  // The root's parent is the caller's directory: it may be reached through symlinks.
  const std::string parent_path = root.parent_path().string();
  const int parent_fd =
      co_await open(AT_FDCWD, parent_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (parent_fd < 0) {
    if (parent_fd != -ENOENT) record(-parent_fd, "openat", parent_path, nullptr);
    co_return;
  }
  open_directory parent{unique_fd(parent_fd), parent_path, nullptr, false};
  const std::string name = root.filename().string();
  co_await remove_entry(parent, name.c_str(), entry_kind::directory);
}

task<int> tree_remover::open(int dirfd, const char* name, int flags) {
  return result_or_errno([&ring = ring_, dirfd, name, flags] {
    return ops::openat(ring, dirfd, name, flags, 0);
  });
}

task<int> tree_remover::unlink(int dirfd, const char* name, int flags) {
  return result_or_errno([&ring = ring_, dirfd, name, flags] {
    return ops::unlinkat(ring, dirfd, name, flags);
  });
}

void tree_remover::record(int error, const char* operation, const std::string& path,
                          open_directory* where, const char* reason) {
  if (!first_error_) {
    std::string what = std::string(operation) + ' ' + path;
    if (reason) what += std::string(": ") + reason;
    first_error_.emplace(error, std::generic_category(), what);
  }
  if (where != nullptr) where->mark_incomplete();
}

/// Removes `name` from `parent`, as a directory or not as `kind` says at first, switching
/// when the entry turns out to be the other kind. A vanished entry is not an error.
task<void> tree_remover::remove_entry(open_directory& parent, const char* name, entry_kind kind) {
  attempt last;
  for (int tries = 0; tries < attempts_per_entry; ++tries) {
    if (kind == entry_kind::directory)
      last = co_await remove_directory(parent, name);
    else
      last = co_await unlink_other(parent, name);
    if (last.reported) co_return;
    switch (last.error) {
      case 0:
      case ENOENT:
        co_return;
      case EISDIR:     // unlinkat on a directory
      case ENOTEMPTY:  // entries appeared after the directory was emptied
        kind = entry_kind::directory;
        continue;
      case ENOTDIR:  // O_DIRECTORY|O_NOFOLLOW met a symlink or file: remove that instead
      case ELOOP:
        kind = entry_kind::other;
        continue;
      default:
        break;
    }
    break;
  }
  record(last.error, last.operation, path_of(parent, name), &parent, last.reason);
}

task<tree_remover::attempt> tree_remover::unlink_other(open_directory& parent, const char* name) {
  int error = -co_await unlink(parent.fd.get(), name, 0);
  if (is_permission_error(error) && make_writable(parent))
    error = -co_await unlink(parent.fd.get(), name, 0);
  co_return attempt{error, "unlinkat"};
}

task<tree_remover::attempt> tree_remover::remove_directory(open_directory& parent,
                                                           const char* name) {
  int fd = co_await open(parent.fd.get(), name, directory_flags);
  if (is_permission_error(-fd)) {
    make_writable(parent);  // entering `name` needs search permission on `parent`
    co_await make_accessible(parent, name);
    fd = co_await open(parent.fd.get(), name, directory_flags);
    if (is_permission_error(-fd) && !proc_mounted())
      co_return attempt{-fd, "openat", false,
                        "/proc is not mounted (cleanup changes a directory's mode through it)"};
  }
  if (fd < 0) co_return attempt{-fd, "openat"};
  {
    open_directory dir{unique_fd(fd), path_of(parent, name), &parent};
    co_await empty(std::span(&dir, 1));
    if (dir.incomplete) co_return attempt{0, "", true};
  }
  int error = -co_await unlink(parent.fd.get(), name, AT_REMOVEDIR);
  if (is_permission_error(error) && make_writable(parent))
    error = -co_await unlink(parent.fd.get(), name, AT_REMOVEDIR);
  co_return attempt{error, "rmdir"};
}

/// Removes everything in `dirs`, listing chunk by listing chunk, until every listing has
/// reached its end. The non-directories of a round of listings go to the ring in one batch,
/// interleaved across the directories: io-wq workers take requests in order, and neighbours
/// in different directories do not queue on one directory's lock. The subdirectories found
/// are removed together likewise.
task<void> tree_remover::empty(std::span<open_directory> dirs) {
  std::vector<listing> listings;
  listings.reserve(dirs.size());
  for (open_directory& dir : dirs) listings.push_back({&dir, {}});
  const std::size_t chunk = listing_chunk_size();
  const auto buffer = std::make_unique<std::byte[]>(chunk);
  std::string names;  // the round's names, NUL-terminated, kept until its removals end
  found_directories found;
  std::vector<subdirectory> subdirectories;
  std::vector<task<void>> work;
  for (;;) {
    names.clear();
    found.clear();
    std::size_t longest = 0;
    bool listing_left = false;
    for (listing& l : listings) {
      l.files.clear();
      if (l.finished) continue;
      if (const int error = l.read_chunk({buffer.get(), chunk}, names, found))
        record(error, "getdents64", l.dir->path, l.dir);
      longest = std::max(longest, l.files.size());
      listing_left = listing_left || !l.finished;
    }
    if (!listing_left) co_return;  // a finished listing's last chunk is empty
    work.clear();
    for (std::size_t i = 0; i < longest; ++i)
      for (listing& l : listings)
        if (i < l.files.size())
          work.push_back(remove_entry(*l.dir, names.c_str() + l.files[i], entry_kind::other));
    // Pointers into `names` only now: appending during the reads may have moved it.
    subdirectories.clear();
    for (const auto& [parent, offset] : found)
      subdirectories.push_back({parent, names.c_str() + offset});
    if (!subdirectories.empty()) work.push_back(remove_subdirectories(subdirectories));
    co_await when_all(std::move(work));
  }
}

/// Removes `subdirectories` in groups, each group opened and emptied together. A group
/// holds one descriptor per member while its descendants are removed, so the members
/// beyond the first come out of the tree-wide `spare_descriptors_`. A member that could not
/// be emptied stays; what the fast path cannot remove for another reason (no permission, a
/// race, not a directory after all) goes through `remove_entry`, one at a time.
task<void> tree_remover::remove_subdirectories(std::span<const subdirectory> subdirectories) {
  std::vector<open_directory> opened;
  std::vector<subdirectory> members;
  std::vector<task<int>> steps;
  std::vector<subdirectory> leftovers;
  for (std::size_t start = 0; start < subdirectories.size();) {
    const std::size_t extra = std::min(spare_descriptors_, subdirectories.size() - start - 1);
    spare_descriptors_ -= extra;
    const auto group = subdirectories.subspan(start, extra + 1);
    start += group.size();

    steps.clear();
    for (const subdirectory& s : group)
      steps.push_back(open(s.parent->fd.get(), s.name, directory_flags));
    const std::vector<int> fds = co_await when_all(std::move(steps));
    opened.clear();
    opened.reserve(group.size());  // stays put: the members' children point into it
    members.clear();
    leftovers.clear();
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (fds[i] < 0) {
        leftovers.push_back(group[i]);
        continue;
      }
      opened.push_back({unique_fd(fds[i]), path_of(*group[i].parent, group[i].name),
                        group[i].parent});
      members.push_back(group[i]);
    }
    co_await empty(opened);
    std::size_t emptied = 0;
    for (std::size_t i = 0; i < members.size(); ++i)
      if (!opened[i].incomplete) members[emptied++] = members[i];
    members.resize(emptied);
    opened.clear();  // closes them before the rmdirs, and frees the descriptors

    steps.clear();
    for (const subdirectory& s : members)
      steps.push_back(unlink(s.parent->fd.get(), s.name, AT_REMOVEDIR));
    const std::vector<int> results = co_await when_all(std::move(steps));
    spare_descriptors_ += extra;
    for (std::size_t i = 0; i < members.size(); ++i)
      if (results[i] < 0) leftovers.push_back(members[i]);
    for (const subdirectory& s : leftovers)
      co_await remove_entry(*s.parent, s.name, entry_kind::directory);
  }
}

/// Gives the directory `name` in `parent` owner rwx although it cannot be opened for
/// reading: through an O_PATH descriptor that is that directory itself (O_NOFOLLOW,
/// O_DIRECTORY), chmod-ed by its /proc/thread-self/fd link since fchmod rejects O_PATH (the
/// calling thread's table: right even after unshare(CLONE_FILES)). Failure is left to the
/// retried open to report, with /proc's absence as the reason where it is missing.
task<void> tree_remover::make_accessible(const open_directory& parent, const char* name) {
  const int fd =
      co_await open(parent.fd.get(), name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) co_return;
  const unique_fd directory(fd);
  ::fchmodat(AT_FDCWD, proc_fd_path(fd).c_str(), accessible_mode, 0);
}

}  // namespace tempfile::detail
