#pragma once
// Publishing a file under a name: atomically, durably on request, across filesystems.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <span>
#include <string_view>

#include <tempfile/io_ring.hpp>
#include <tempfile/task.hpp>
#include <tempfile/unique_fd.hpp>

namespace tempfile::detail {

/// What publishing does when the target name exists.
enum class existing_target {
  refuse,   ///< EEXIST (`link`, `persist_noclobber`)
  replace,  ///< replaced atomically: readers see the old file or the new one (`replace`, `persist`)
};

/// The bytes a file still buffers, at `offset`: a publish writes them as the first step of
/// the chain that names the file (at most `max_transfer` bytes).
struct unwritten_bytes {
  std::span<const std::byte> bytes;
  std::uint64_t offset = 0;
  /// They are all the data the file holds: a write of them that syncs itself (RWF_DSYNC)
  /// stands for an fdatasync.
  bool whole_file = false;
};

/// What a publish did besides naming the file.
struct publish_outcome {
  /// The chain's write of the unwritten bytes: their count when all were written, fewer on
  /// a short write, a negative errno on a failed one, -ECANCELED when the publish could not
  /// chain them (a copy across filesystems, or a replace, which links a fresh name first).
  /// Unless all were written, nothing else happened: the caller writes them another way
  /// and publishes again without them.
  int written = -ECANCELED;
  /// `move_file` across filesystems: the descriptor of the copy now named `target`.
  unique_fd copy;
  /// A durable publish whose name appeared but whose directory could not be synced: the
  /// error, for the caller to throw once it took note of the name.
  std::exception_ptr directory_failure;

  bool wrote(const unwritten_bytes& unwritten) const noexcept {
    return written == static_cast<int>(unwritten.bytes.size());
  }
};

/// Gives the open file `fd` the name `target` (absolute) by linking it through /proc: it
/// appears whole or not at all. Replacing links it to a fresh name in the target's
/// directory first and renames that over `target`; the fresh name never outlives a failure. `durable`: the data is
/// synced before the name appears, and the target's directory once it is there (a failure
/// of that last sync is returned, not thrown: `publish_outcome::directory_failure`).
/// `unwritten` is written first, in one chain with the sync or, without one, the link.
/// Across filesystems the data is copied through the ring into a new `O_TMPFILE` file in
/// the target's directory (keeping the mode), which is published instead; a durable
/// publish learns that before syncing (by the devices of the file and the target's
/// directory, unless `beside_file`: the target is in the directory the file was made in),
/// and syncs the copy only.
/// Awaited at once by the file types' publishes, which hold `target` meanwhile: it is taken
/// by reference (every copy of a path allocates), as are the paths of `move_file`.
task<publish_outcome> link_file(io_ring& ring, int fd, bool beside_file,
                                const std::filesystem::path& target, existing_target existing,
                                bool durable, unwritten_bytes unwritten);

/// Renames the file named `source` and open as `fd` to `target` (absolute); `durable` and
/// `unwritten` as for `link_file`. Across filesystems publishes a copy as `link_file`
/// does, removes `source` and returns the copy's descriptor.
task<publish_outcome> move_file(io_ring& ring, int fd, const std::filesystem::path& source,
                                const std::filesystem::path& target, existing_target existing,
                                bool durable, unwritten_bytes unwritten);

/// The directory part of the absolute `path`: up to its last '/' (the root kept). No
/// normalisation: "/a/./b" gives "/a/.".
std::string_view directory_of(const std::filesystem::path& path) noexcept;

/// fsync(2) of the directory `dir`: names created or renamed in it survive a crash.
task<void> sync_directory(io_ring& ring, std::filesystem::path dir);

/// `sync_directory`, its failure returned instead of thrown.
task<std::exception_ptr> sync_directory_reporting(io_ring& ring, std::filesystem::path dir);

}  // namespace tempfile::detail
