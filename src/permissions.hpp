#pragma once
// options::permissions: the exact mode of what a call creates, whatever the umask.

#include <filesystem>

#include <tempfile/options.hpp>

namespace tempfile::detail {

/// Gives the file open as `fd` exactly the mode bits `opts.permissions()` names (nothing
/// when unset). Synchronous: io_uring has no chmod. Throws `std::system_error` naming `path`.
void apply_permissions(int fd, const options& opts, const std::filesystem::path& path);

/// The same for the directory at `path`.
void apply_directory_permissions(const std::filesystem::path& path, const options& opts);

}  // namespace tempfile::detail
