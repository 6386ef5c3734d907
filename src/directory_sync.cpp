#include "directory_sync.hpp"

#include <fcntl.h>

#include "publish_steps.hpp"

namespace tempfile::detail {

void open_directory_direct_sqe::operator()(io_uring_sqe& sqe) const noexcept {
  io_uring_prep_openat_direct(&sqe, AT_FDCWD, path, O_RDONLY | O_DIRECTORY, 0, slot);
}

void fsync_direct_sqe::operator()(io_uring_sqe& sqe) const noexcept {
  io_uring_prep_fsync(&sqe, static_cast<int>(slot), 0);
  sqe.flags |= IOSQE_FIXED_FILE;
}

void close_direct_sqe::operator()(io_uring_sqe& sqe) const noexcept {
  io_uring_prep_close_direct(&sqe, slot);
}

directory_sync::directory_sync(io_ring& ring, std::string_view dir)
    : dir_(dir),
      slot_(ring),
      open_(ring, {"openat", AT_FDCWD, dir_.c_str()}, {dir_.c_str(), slot_ ? *slot_ : 0u}),
      sync_(ring, {slot_ ? *slot_ : 0u}),
      close_(ring, {slot_ ? *slot_ : 0u}) {}

directory_sync::~directory_sync() {
  const bool chained = chain_.has_value();
  chain_.reset();
  if (chained && linked_ops::result(close_) != 0) slot_.close();
}

linked_ops& directory_sync::chain(ring_op* names) {
  chain_.emplace(open_);
  if (names) chain_->add(0, *names);
  begin_chained_step("fsync directory", sync_);
  if (names)
    chain_->add_after_any(sync_);
  else
    chain_->add(0, sync_);
  chain_->add_after_any(close_);
  return *chain_;
}

void directory_sync::check_opened() { (void)open_.await_resume(); }

std::exception_ptr directory_sync::sync_failure() const {
  const int result = linked_ops::result(sync_);
  if (result >= 0) return nullptr;  // no path built on the way that succeeds
  try {
    check_sync(result, false, dir_);
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;  // not reached: check_sync threw
}

}  // namespace tempfile::detail
