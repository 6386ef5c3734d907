#include <tempfile/temporary_directory.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <tempfile/names.hpp>
#include <tempfile/ops.hpp>
#include <tempfile/unique_fd.hpp>
#include <tempfile/when_all.hpp>

namespace tempfile {
namespace {

/// What a directory of the tree is given when its owner cannot list, enter or write into it.
constexpr mode_t accessible_mode = S_IRWXU;
/// Removal attempts per entry. A retry follows a change seen in a race: a directory swapped
/// for a symlink (or back), or entries added to a directory after it was emptied.
constexpr int attempts_per_entry = 4;
/// Directories held open tree-wide beyond one per level of the tree: bounds the
/// descriptors (and listing buffers) cleanup uses to the tree's depth plus this.
constexpr std::size_t extra_open_directories = 128;
constexpr std::size_t listing_buffer_size = 32 * 1024;
constexpr int directory_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

enum class entry_kind { directory, other };

/// A directory of the walk, open as a descriptor.
struct open_directory {
  unique_fd fd;
  std::string path;          // for error messages only: never resolved
  bool inside_tree;          // false for the root's parent, whose mode is never touched
  bool chmod_tried = false;  // fchmod to accessible_mode attempted
  bool chmod_done = false;   // ... and succeeded
};

/// A directory being emptied, and the non-directories of its current listing chunk.
struct listing {
  open_directory* dir;
  std::vector<std::size_t> files;  // offsets of their names in the round's name store
  bool finished = false;
};

/// A subdirectory found by listing `parent`.
struct subdirectory {
  open_directory* parent;
  const char* name;
};

/// One failed step of removing an entry: its errno and the operation that failed.
struct failure {
  int error = 0;
  const char* operation = "";
};

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

/// Removes a tree through directory descriptors (never through re-resolved paths) and
/// remembers the first error while removing everything else it can.
class tree_remover {
 public:
  explicit tree_remover(io_ring& ring) noexcept : ring_(ring) {}

  /// Removes `root` (absolute) and everything below it.
  task<void> remove(const std::filesystem::path& root) {
    // The root's parent is the caller's directory: it may be reached through symlinks.
    const std::string parent_path = root.parent_path().string();
    const int parent_fd =
        co_await open(AT_FDCWD, parent_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (parent_fd < 0) {
      if (parent_fd != -ENOENT) record(-parent_fd, "openat", parent_path);
      co_return;
    }
    open_directory parent{unique_fd(parent_fd), parent_path, false};
    const std::string name = root.filename().string();
    co_await remove_entry(parent, name.c_str(), entry_kind::directory);
  }

  const std::optional<std::system_error>& first_error() const noexcept { return first_error_; }

 private:
  task<int> open(int dirfd, const char* name, int flags) {
    return result_or_errno([&ring = ring_, dirfd, name, flags] {
      return ops::openat(ring, dirfd, name, flags, 0);
    });
  }

  task<int> unlink(int dirfd, const char* name, int flags) {
    return result_or_errno([&ring = ring_, dirfd, name, flags] {
      return ops::unlinkat(ring, dirfd, name, flags);
    });
  }

  void record(int error, const char* operation, const std::string& path) {
    if (!first_error_)
      first_error_.emplace(error, std::generic_category(), std::string(operation) + ' ' + path);
  }

  static std::string path_of(const open_directory& parent, const char* name) {
    return parent.path + '/' + name;
  }

  /// Removes `name` from `parent`, as a directory or not as `kind` says at first, switching
  /// when the entry turns out to be the other kind. A vanished entry is not an error.
  task<void> remove_entry(open_directory& parent, const char* name, entry_kind kind) {
    failure last;
    for (int attempt = 0; attempt < attempts_per_entry; ++attempt) {
      if (kind == entry_kind::directory)
        last = co_await remove_directory(parent, name);
      else
        last = co_await unlink_other(parent, name);
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
    record(last.error, last.operation, path_of(parent, name));
  }

  task<failure> unlink_other(open_directory& parent, const char* name) {
    int error = -co_await unlink(parent.fd.get(), name, 0);
    if (is_permission_error(error) && make_writable(parent))
      error = -co_await unlink(parent.fd.get(), name, 0);
    co_return failure{error, "unlinkat"};
  }

  task<failure> remove_directory(open_directory& parent, const char* name) {
    int fd = co_await open(parent.fd.get(), name, directory_flags);
    if (is_permission_error(-fd)) {
      make_writable(parent);  // entering `name` needs search permission on `parent`
      co_await make_accessible(parent, name);
      fd = co_await open(parent.fd.get(), name, directory_flags);
    }
    if (fd < 0) co_return failure{-fd, "openat"};
    {
      open_directory dir{unique_fd(fd), path_of(parent, name), true};
      co_await empty(std::span(&dir, 1));
    }
    int error = -co_await unlink(parent.fd.get(), name, AT_REMOVEDIR);
    if (is_permission_error(error) && make_writable(parent))
      error = -co_await unlink(parent.fd.get(), name, AT_REMOVEDIR);
    co_return failure{error, "rmdir"};
  }

  /// Removes everything in `dirs`, listing chunk by listing chunk. The non-directories of a
  /// round of listings go to the ring in one batch, interleaved across the directories:
  /// io-wq workers take requests in order, and neighbours in different directories do not
  /// queue on one directory's lock. The subdirectories found are removed together likewise.
  task<void> empty(std::span<open_directory> dirs) {
    std::vector<listing> listings;
    listings.reserve(dirs.size());
    for (open_directory& dir : dirs) listings.push_back({&dir, {}});
    const auto buffer = std::make_unique<std::byte[]>(listing_buffer_size);
    std::string names;  // the round's names, NUL-terminated, kept until its removals end
    std::vector<std::pair<open_directory*, std::size_t>> found_directories;
    std::vector<subdirectory> subdirectories;
    std::vector<task<void>> work;
    for (;;) {
      names.clear();
      found_directories.clear();
      std::size_t longest = 0;
      for (listing& l : listings) {
        l.files.clear();
        if (l.finished) continue;
        read_chunk(l, buffer.get(), names, found_directories);
        longest = std::max(longest, l.files.size());
      }
      if (longest == 0 && found_directories.empty()) co_return;
      work.clear();
      for (std::size_t i = 0; i < longest; ++i)
        for (listing& l : listings)
          if (i < l.files.size())
            work.push_back(remove_entry(*l.dir, names.c_str() + l.files[i], entry_kind::other));
      // Pointers into `names` only now: appending during the reads may have moved it.
      subdirectories.clear();
      for (const auto& [parent, offset] : found_directories)
        subdirectories.push_back({parent, names.c_str() + offset});
      if (!subdirectories.empty()) work.push_back(remove_subdirectories(subdirectories));
      co_await when_all(std::move(work));
    }
  }

  /// Lists the next chunk of `l`: names go to `names`, the offsets of non-directories to
  /// `l.files`, directories to `found_directories`.
  void read_chunk(listing& l, std::byte* buffer, std::string& names,
                  std::vector<std::pair<open_directory*, std::size_t>>& found_directories) {
    const ssize_t length = ::getdents64(l.dir->fd.get(), buffer, listing_buffer_size);
    if (length <= 0) {
      if (length < 0) record(errno, "getdents64", l.dir->path);
      l.finished = true;
      return;
    }
    for (ssize_t offset = 0; offset < length;) {
      const auto* d = reinterpret_cast<const dirent64*>(buffer + offset);
      offset += d->d_reclen;
      if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) continue;
      const std::size_t name = names.size();
      names.append(d->d_name, std::strlen(d->d_name) + 1);
      if (kind_of(*l.dir, *d) == entry_kind::directory)
        found_directories.emplace_back(l.dir, name);
      else
        l.files.push_back(name);
    }
  }

  /// Removes `subdirectories` in groups, each group opened and emptied together. A group
  /// holds one descriptor per member while its descendants are removed, so the members
  /// beyond the first come out of the tree-wide `spare_descriptors_`. What the fast path
  /// cannot remove (no permission, a race, not a directory after all) goes through
  /// `remove_entry`, one at a time.
  task<void> remove_subdirectories(std::span<const subdirectory> subdirectories) {
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
        opened.push_back({unique_fd(fds[i]), path_of(*group[i].parent, group[i].name), true});
        members.push_back(group[i]);
      }
      co_await empty(opened);
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

  static entry_kind kind_of(const open_directory& dir, const dirent64& d) {
    if (d.d_type == DT_DIR) return entry_kind::directory;
    if (d.d_type != DT_UNKNOWN) return entry_kind::other;
    struct stat st;
    if (::fstatat(dir.fd.get(), d.d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
      return entry_kind::directory;
    return entry_kind::other;  // a failure resurfaces from unlinkat, with its path
  }

  static bool is_permission_error(int error) noexcept {
    return error == EACCES || error == EPERM;
  }

  /// Gives `dir` (held open, inside the tree) owner rwx, once. True if that has succeeded.
  static bool make_writable(open_directory& dir) noexcept {
    if (dir.inside_tree && !dir.chmod_tried) {
      dir.chmod_tried = true;
      dir.chmod_done = ::fchmod(dir.fd.get(), accessible_mode) == 0;
    }
    return dir.chmod_done;
  }

  /// Gives the directory `name` in `parent` owner rwx although it cannot be opened for
  /// reading: through an O_PATH descriptor that is that directory itself (O_NOFOLLOW,
  /// O_DIRECTORY), chmod-ed by its /proc/self/fd link since fchmod rejects O_PATH.
  /// Failure is left to the retried open to report.
  task<void> make_accessible(const open_directory& parent, const char* name) {
    const int fd =
        co_await open(parent.fd.get(), name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) co_return;
    const unique_fd directory(fd);
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    ::fchmodat(AT_FDCWD, link.c_str(), accessible_mode, 0);
  }

  io_ring& ring_;
  std::size_t spare_descriptors_ = extra_open_directories;
  std::optional<std::system_error> first_error_;
};

}  // namespace

task<temporary_directory> temporary_directory::create(io_ring& ring, options opts) {
  std::filesystem::path path = co_await mkdtemp(ring, opts);
  co_return temporary_directory(ring, std::move(path), opts);
}

temporary_directory::temporary_directory(io_ring& ring, std::filesystem::path path,
                                         const options& opts)
    : ring_(&ring),
      path_(std::move(path)),
      ignore_cleanup_errors_(opts.ignore_cleanup_errors()),
      auto_delete_(opts.auto_delete()) {}

temporary_directory::temporary_directory(temporary_directory&& other) noexcept
    : ring_(other.ring_),
      path_(std::move(other.path_)),
      ignore_cleanup_errors_(other.ignore_cleanup_errors_),
      auto_delete_(other.auto_delete_),
      removed_(std::exchange(other.removed_, true)) {
  other.path_.clear();
}

temporary_directory& temporary_directory::operator=(temporary_directory&& other) noexcept {
  if (this != &other) {
    remove_now();
    ring_ = other.ring_;
    path_ = std::move(other.path_);
    other.path_.clear();
    ignore_cleanup_errors_ = other.ignore_cleanup_errors_;
    auto_delete_ = other.auto_delete_;
    removed_ = std::exchange(other.removed_, true);
  }
  return *this;
}

temporary_directory::~temporary_directory() { remove_now(); }

task<void> temporary_directory::cleanup() { return remove_on(ring_); }

task<void> temporary_directory::remove_on(io_ring* ring) {
  if (removed_) co_return;
  tree_remover remover(*ring);
  co_await remover.remove(path_);
  if (const auto& error = remover.first_error()) {
    if (!ignore_cleanup_errors_) throw *error;
    co_return;
  }
  removed_ = true;
}

void temporary_directory::remove_now() noexcept {
  if (removed_ || !auto_delete_) return;
  try {
    // The creating ring may be gone or busy driving a coroutine: use a private one.
    ring_options small;
    small.entries = 64;
    small.configure_io_wq = false;  // the application's io-wq settings stay in force
    io_ring ring(small);
    sync_wait(ring, remove_on(&ring));
  } catch (...) {  // best effort: a destructor never throws
  }
}

}  // namespace tempfile
