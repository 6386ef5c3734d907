#pragma once
/// \file
/// `spool_budget`: one memory limit shared by many spooled files.

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tempfile {

class spooled_temporary_file;
namespace detail {
class spool_memory;
}

/// A memory limit shared by any number of `spooled_temporary_file`s, on one ring or on the
/// rings of several threads; handed over with `options().memory_budget(budget)`. Each file
/// charges the memory it holds (whole blocks of its in-memory contents); a write or truncate
/// that would take the total past the limit rolls that file over first, with the same
/// guarantees as a rollover for `max_size`. Memory returns on rollover, close, move-from
/// and destruction. Thread-safe; charging and returning are lock-free. Not copyable or
/// movable; it must outlive the files that use it.
///
/// Only in-memory contents are charged: a file that has rolled over keeps its own buffer
/// (`buffering`, 256 KiB by default, twice that while writing behind) outside the budget.
/// With many files rolled over at once, a small `buffering` (or 0) bounds that memory too.
class spool_budget {
 public:
  /// A budget of `bytes` bytes.
  explicit spool_budget(std::size_t bytes) noexcept : limit_(bytes) {}
  spool_budget(const spool_budget&) = delete;
  spool_budget& operator=(const spool_budget&) = delete;

  /// The limit given at construction.
  std::size_t limit() const noexcept { return limit_; }
  /// Bytes the files hold now. Above `limit()` only while a file whose forced rollover
  /// failed keeps its data (and the write that triggered it) in memory.
  std::size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
  /// The largest `used()` seen so far.
  std::size_t high_water() const noexcept { return high_water_.load(std::memory_order_relaxed); }
  /// Rollovers the budget forced (completed ones; those for `max_size` are not counted).
  std::uint64_t rollovers() const noexcept { return rollovers_.load(std::memory_order_relaxed); }

 private:
  friend class detail::spool_memory;
  friend class spooled_temporary_file;

  /// Adds `bytes` to `used()` unless that would pass the limit; false (nothing added) then.
  bool try_charge(std::size_t bytes) noexcept;
  /// Adds `bytes` to `used()` even past the limit.
  void charge(std::size_t bytes) noexcept;
  void refund(std::size_t bytes) noexcept { used_.fetch_sub(bytes, std::memory_order_relaxed); }
  void count_rollover() noexcept { rollovers_.fetch_add(1, std::memory_order_relaxed); }
  void raise_high_water(std::size_t now) noexcept;

  const std::size_t limit_;
  std::atomic<std::size_t> used_{0};
  std::atomic<std::size_t> high_water_{0};
  std::atomic<std::uint64_t> rollovers_{0};
};

}  // namespace tempfile
