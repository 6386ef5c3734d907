#include "publish_chain.hpp"

#include <cerrno>
#include <string>
#include <system_error>

namespace tempfile::detail {

void check_sync(int result, bool datasync, const std::filesystem::path& path) {
  if (result >= 0) return;
  throw std::system_error(-result, std::generic_category(),
                          (datasync ? "fdatasync before publishing at " : "fsync ") +
                              path.string());
}

task<std::exception_ptr> directory_sync::settle() {
  const bool opened = linked_ops::result(open_) >= 0;
  const int synced = linked_ops::result(sync_);
  std::exception_ptr failure;
  try {
    (void)open_.await_resume();
    check_sync(synced, false, dir_);
  } catch (const std::system_error&) {
    failure = std::current_exception();
  }
  if (opened && synced < 0) {
    try {
      co_await checked_op<int, close_direct_sqe>(ring_, {"close"}, {slot_});
    } catch (const std::system_error&) {  // the failed sync is what to report
    }
  }
  co_return failure;
}

}  // namespace tempfile::detail
