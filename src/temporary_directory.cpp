#include <tempfile/temporary_directory.hpp>

#include <utility>

#include <tempfile/names.hpp>

#include "tree_remover.hpp"

namespace tempfile {

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
  detail::tree_remover remover(*ring);
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
