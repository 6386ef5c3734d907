#pragma once
// Whether syncing a file reaches anything: tmpfs and ramfs keep files in memory only, and
// their fsync returns 0 without a step.

namespace tempfile::detail {

/// Whether fsync(2) and fdatasync(2) of the file open as `fd` can do anything; true when
/// unsure. A file in shared memory says so itself (its seals); for others it is known per
/// mount and thread once asked (statx with the mount's unique id, which asks no network
/// filesystem's server, Linux 6.8), else asked of the filesystem each time.
bool syncs_reach_storage(int fd) noexcept;

}  // namespace tempfile::detail
