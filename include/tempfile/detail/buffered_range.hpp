#pragma once
/// \file
/// `detail::buffered_range`: the range of a file that a buffered file holds in memory.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>

#include <tempfile/detail/file_buffer.hpp>

namespace tempfile::detail {

/// Bytes of one range of a file, starting at `offset()`: either written by the user and not
/// yet to the file (dirty), or read ahead from it, never both. Holds at most `capacity()`
/// bytes; writes grow the storage as they need it, reads take it whole.
class buffered_range {
 public:
  buffered_range() noexcept = default;  // capacity 0: unbuffered, or moved from
  explicit buffered_range(std::size_t capacity) noexcept : capacity_(capacity) {}

  std::size_t capacity() const noexcept { return capacity_; }
  std::int64_t offset() const noexcept { return offset_; }
  std::size_t size() const noexcept { return len_; }
  std::int64_t end() const noexcept { return offset_ + static_cast<std::int64_t>(len_); }
  bool empty() const noexcept { return len_ == 0; }
  bool full() const noexcept { return len_ == capacity_; }
  bool dirty() const noexcept { return dirty_; }
  bool holds(std::int64_t position) const noexcept {
    return position >= offset_ && position < end();
  }
  std::span<const std::byte> bytes() const noexcept { return storage_.first(len_); }

  /// Whether `n` more bytes fit without filling the range or growing its storage.
  bool fits_as_is(std::size_t n) const noexcept {
    return n < capacity_ - len_ && n <= storage_.size() - len_;
  }
  /// Starts an empty range at `offset` (nothing dirty may be held).
  void start_at(std::int64_t offset) noexcept {
    offset_ = offset;
    len_ = 0;
  }
  /// Appends `data` as dirty bytes, growing the storage; `size() + data.size()` must not
  /// exceed the capacity.
  void append(std::span<const std::byte> data);
  /// `append` for bytes that fit as they are (`fits_as_is`): inline, the common small write.
  void append_as_is(std::span<const std::byte> data) noexcept {
    std::memcpy(storage_.data() + len_, data.data(), data.size());
    len_ += data.size();
    dirty_ = true;
  }
  /// Copies the bytes from `position` (held) into `out`; returns how many.
  std::size_t copy_out(std::int64_t position, std::span<std::byte> out) const noexcept;
  /// Room for a read-ahead of `capacity()` bytes at `offset`; `read_ahead_done` records
  /// how many arrived.
  std::span<std::byte> read_ahead_at(std::int64_t offset);
  void read_ahead_done(std::size_t n) noexcept { len_ = n; }
  /// Forgets the bytes (written, or read ahead and now stale); the storage stays.
  void forget() noexcept {
    len_ = 0;
    dirty_ = false;
  }
  /// Forgets the bytes and gives the storage back to its cache.
  void release() noexcept;
  /// The storage, for a background write to take in exchange for the one to fill next.
  file_buffer& storage() noexcept { return storage_; }

  /// Exchanges everything with `other` (a file's move), the storage without a temporary.
  void swap(buffered_range& other) noexcept {
    storage_.swap(other.storage_);
    std::swap(capacity_, other.capacity_);
    std::swap(offset_, other.offset_);
    std::swap(len_, other.len_);
    std::swap(dirty_, other.dirty_);
  }
  friend void swap(buffered_range& a, buffered_range& b) noexcept { a.swap(b); }

 private:
  file_buffer storage_;  // allocated at first use
  std::size_t capacity_ = 0;
  std::int64_t offset_ = 0;  // file offset of storage_[0]
  std::size_t len_ = 0;      // bytes held
  bool dirty_ = false;       // the bytes are not yet written
};

}  // namespace tempfile::detail
