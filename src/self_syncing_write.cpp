#include "self_syncing_write.hpp"

namespace tempfile::detail {
namespace {

thread_local bool self_syncing_write_in_flight = false;

}  // namespace

self_syncing_write::self_syncing_write(bool wanted) noexcept
    : held_(wanted && !self_syncing_write_in_flight) {
  if (held_) self_syncing_write_in_flight = true;
}

void self_syncing_write::release() noexcept {
  if (held_) self_syncing_write_in_flight = false;
  held_ = false;
}

}  // namespace tempfile::detail
