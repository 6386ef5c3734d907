#include <tempfile/spool_budget.hpp>

namespace tempfile {

// Relaxed order throughout: the counters publish no other data, and each read-modify-write
// still sees the latest value, so the limit holds however many threads charge at once.

bool spool_budget::try_charge(std::size_t bytes) noexcept {
  std::size_t seen = used_.load(std::memory_order_relaxed);
  std::size_t wanted;
  do {
    if (bytes > limit_ || seen > limit_ - bytes) return false;
    wanted = seen + bytes;
  } while (!used_.compare_exchange_weak(seen, wanted, std::memory_order_relaxed));
  raise_high_water(wanted);
  return true;
}

void spool_budget::charge(std::size_t bytes) noexcept {
  raise_high_water(used_.fetch_add(bytes, std::memory_order_relaxed) + bytes);
}

void spool_budget::raise_high_water(std::size_t now) noexcept {
  std::size_t seen = high_water_.load(std::memory_order_relaxed);
  while (seen < now &&
         !high_water_.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}

}  // namespace tempfile
