#pragma once
// Publishing a file under a name: atomically, durably on request, across filesystems.

#include <filesystem>

#include <tempfile/io_ring.hpp>
#include <tempfile/task.hpp>
#include <tempfile/unique_fd.hpp>

namespace tempfile::detail {

/// What publishing does when the target name exists.
enum class existing_target {
  refuse,   ///< EEXIST (`link`, `persist_noclobber`)
  replace,  ///< replaced atomically: readers see the old file or the new one (`replace`, `persist`)
};

/// Gives the open file `fd` the name `target` (absolute) by linking it through /proc: it
/// appears whole or not at all. Replacing links it to a fresh name in the target's
/// directory first and renames that over `target`; the fresh name never outlives a
/// failure. `durable`: the data is synced before the name appears. Across filesystems the
/// data is copied through the ring into a new `O_TMPFILE` file in the target's directory
/// (keeping the mode), which is published instead; a durable publish learns that before
/// syncing (by the devices of the file and the target's directory), and syncs the copy only.
task<void> link_file(io_ring& ring, int fd, std::filesystem::path target,
                     existing_target existing, bool durable);

/// Renames the file named `source` and open as `fd` to `target` (absolute); `durable` as
/// for `link_file`. Across filesystems publishes a copy as `link_file` does, removes
/// `source` and returns the copy's descriptor (empty when renamed).
task<unique_fd> move_file(io_ring& ring, int fd, std::filesystem::path source,
                          std::filesystem::path target, existing_target existing, bool durable);

/// fsync(2) of the directory `dir`: names created or renamed in it survive a crash.
task<void> sync_directory(io_ring& ring, std::filesystem::path dir);

}  // namespace tempfile::detail
