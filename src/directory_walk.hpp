#pragma once
// What a walk through directory descriptors is made of: open directories that know their
// parent, listings read chunk by chunk, and the permission repairs that let the owner in.

#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <tempfile/unique_fd.hpp>

namespace tempfile::detail {

enum class entry_kind { directory, other };

/// A directory of the walk, open as a descriptor.
struct open_directory {
  unique_fd fd;
  std::string path;                  // for error messages only: never resolved
  open_directory* parent = nullptr;  // open as long as this one is; null above the tree
  bool inside_tree = true;           // false for the root's parent, whose mode is never touched
  bool chmod_tried = false;          // fchmod to owner rwx attempted
  bool chmod_done = false;           // ... and succeeded
  bool incomplete = false;           // something below could not be removed, so this cannot

  /// Marks this directory and every ancestor: none of them can become empty.
  void mark_incomplete() noexcept {
    for (open_directory* d = this; d != nullptr && !d->incomplete; d = d->parent)
      d->incomplete = true;
  }
};

/// The subdirectories a round of listings found: their parent and their name's offset in
/// the round's name store.
using found_directories = std::vector<std::pair<open_directory*, std::size_t>>;

/// A directory being emptied, listed one chunk (getdents64) at a time.
struct listing {
  open_directory* dir;
  std::vector<std::size_t> files;  // offsets of the chunk's non-directories in the name store
  bool finished = false;           // end of directory reached, or the listing failed

  /// Lists the next chunk into `buffer`: names go to `names` (NUL-terminated), the offsets of
  /// non-directories to `files`, directories to `directories`. Returns 0, or the errno of a
  /// failed read (which finishes the listing).
  int read_chunk(std::span<std::byte> buffer, std::string& names, found_directories& directories);
};

/// Bytes one listing reads at once.
std::size_t listing_chunk_size() noexcept;

/// What a directory of the tree is given when its owner cannot list, enter or write into it.
inline constexpr mode_t accessible_mode = 0700;

inline bool is_permission_error(int error) noexcept { return error == EACCES || error == EPERM; }

/// Gives `dir` (held open, inside the tree) owner rwx, once. True if that has succeeded.
bool make_writable(open_directory& dir) noexcept;

}  // namespace tempfile::detail
