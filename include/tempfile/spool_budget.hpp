#pragma once
/// \file
/// `spool_budget`: one memory limit shared by many spooled files.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace tempfile {

class spooled_temporary_file;
namespace detail {
class spool_memory;
class budget_charge;
}

/// A memory limit shared by any number of `spooled_temporary_file`s, on one ring or on the
/// rings of several threads; handed over with `options().memory_budget(budget)`. Each file
/// charges the memory it holds; a write or truncate that would take the total past the
/// limit rolls that file over first, with the same guarantees as a rollover for
/// `max_size`. Memory returns on close, move-from and destruction, and the in-memory
/// contents' on rollover. Thread-safe; charging and returning are lock-free. Not copyable
/// or movable; it must outlive the files that use it.
///
/// In memory, a file charges whole 64 KiB blocks (`spool_memory::block_size`): its first
/// byte costs a block, so a budget below 64 KiB rolls every file over at its first write.
/// Rolled over, a file charges its buffers at their largest (`buffering`: 256 KiB by
/// default, three times that while writing behind); when the budget cannot hold them, it
/// gets one 64 KiB buffer if the budget holds that, else none: its writes then go straight
/// to the file.
///
/// Outside any budget, each thread keeps memory released there for reuse: up to 16 MiB of
/// blocks (in-memory contents) and up to 4 MiB of default-size file buffers. The spools'
/// memory stays within the limit plus that, per thread (the objects themselves aside, and
/// the 1 MiB a publish across filesystems copies through while it runs).
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
  friend class detail::budget_charge;
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

namespace detail {

/// Bytes charged to a budget for as long as this lives, or until `release()`.
class budget_charge {
 public:
  budget_charge() noexcept = default;  // charges nothing
  /// Charges `bytes` to `budget` unless that would pass its limit; charges nothing then,
  /// and converts to false.
  budget_charge(spool_budget& budget, std::size_t bytes) noexcept
      : budget_(budget.try_charge(bytes) ? &budget : nullptr), bytes_(budget_ ? bytes : 0) {}
  budget_charge(budget_charge&& other) noexcept
      : budget_(std::exchange(other.budget_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  budget_charge& operator=(budget_charge&& other) noexcept {
    budget_charge(std::move(other)).swap(*this);
    return *this;
  }
  ~budget_charge() { release(); }

  /// Whether a charge is held.
  explicit operator bool() const noexcept { return budget_ != nullptr; }
  /// Returns the bytes to the budget.
  void release() noexcept {
    if (budget_) budget_->refund(std::exchange(bytes_, 0));
    budget_ = nullptr;
  }
  void swap(budget_charge& other) noexcept {
    std::swap(budget_, other.budget_);
    std::swap(bytes_, other.bytes_);
  }

 private:
  spool_budget* budget_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace detail
}  // namespace tempfile
