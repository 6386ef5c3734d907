#pragma once
/// \file
/// `detail::spool_memory`: a spooled file's in-memory contents, in blocks recycled per thread.

#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

namespace tempfile {
class spool_budget;
}

namespace tempfile::detail {

/// Contents held as fixed-size blocks taken from a bounded per-thread cache: a new spool
/// writes to pages already faulted in, growth never copies, and the blocks held are charged
/// to an optional `spool_budget` one by one. Bytes never written (a gap after a seek, a
/// truncate that extends) read as zeros.
class spool_memory {
 public:
  /// Granularity of allocation and of budget charges.
  static constexpr std::size_t block_size = 64 * 1024;

  explicit spool_memory(spool_budget* budget) noexcept : budget_(budget) {}
  spool_memory(spool_memory&& other) noexcept;
  spool_memory& operator=(spool_memory&& other) noexcept;
  spool_memory(const spool_memory&) = delete;
  spool_memory& operator=(const spool_memory&) = delete;
  ~spool_memory() { clear(); }

  std::size_t size() const noexcept { return size_; }
  /// Makes room for `size` bytes. False, taking nothing, if the budget would pass its limit.
  [[nodiscard]] bool try_reserve(std::size_t size) { return size <= capacity() || try_grow(size); }
  /// Makes room for `size` bytes, charging the budget even past its limit.
  void reserve(std::size_t size) {
    if (size > capacity()) grow(size);
  }
  /// Copies `data` to `offset`; room for `offset + data.size()` bytes must be reserved.
  void write(std::size_t offset, std::span<const std::byte> data) noexcept {
    const std::size_t within = offset % block_size;
    // An empty write may sit at the end of the last block, where no block is indexed.
    if (data.empty() || offset > size_ || within + data.size() > block_size)
      return write_spanning(offset, data);
    // The usual append: no gap to zero, one block.
    std::memcpy(blocks_[offset / block_size] + within, data.data(), data.size());
    if (offset + data.size() > size_) size_ = offset + data.size();
  }
  /// Copies up to `out.size()` bytes from `offset`; returns how many (0 at or past the end).
  std::size_t read(std::size_t offset, std::span<std::byte> out) const noexcept;
  /// Shrinks, giving back the blocks past the new end, or extends with zeros (room reserved).
  void resize(std::size_t size) noexcept;
  /// The contents as consecutive pieces, one per block.
  std::vector<std::span<const std::byte>> pieces() const;
  /// Gives back every block; the contents become empty.
  void clear() noexcept { release_blocks_from(0); size_ = 0; }

 private:
  std::size_t capacity() const noexcept { return blocks_.size() * block_size; }
  bool try_grow(std::size_t size);
  void grow(std::size_t size);
  static std::size_t blocks_for(std::size_t size) noexcept {
    return (size + block_size - 1) / block_size;
  }
  /// Takes blocks until `size` bytes fit; the budget is already charged for them.
  void take_blocks(std::size_t size);
  void release_blocks_from(std::size_t first) noexcept;
  void fill_zeros(std::size_t from, std::size_t to) noexcept;
  void write_spanning(std::size_t offset, std::span<const std::byte> data) noexcept;
  /// The contiguous bytes from `offset` (below `size()`) to the end of its block or contents.
  std::span<const std::byte> contiguous_at(std::size_t offset) const noexcept;

  std::vector<std::byte*> blocks_;
  std::size_t size_ = 0;
  spool_budget* budget_;
};

}  // namespace tempfile::detail
