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

}  // namespace tempfile::detail
