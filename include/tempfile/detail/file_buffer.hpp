#pragma once
/// \file
/// `detail::file_buffer`: uninitialised bytes for a file's buffer, recycled per thread.

#include <cstddef>
#include <span>
#include <utility>

namespace tempfile::detail {

/// The size a file's buffer starts at: it grows fourfold from there as writes need.
inline constexpr std::size_t smallest_buffer_size = 16 * 1024;

/// An owned byte array, not zero-filled (every byte is written before it is read). Buffers
/// of the sizes a buffer grows through (`smallest_buffer_size`, four times that, the
/// default) are kept on per-thread free lists when released, so creating many short-lived
/// files costs no allocation (nor page faults) per file once warm.
class file_buffer {
 public:
  file_buffer() noexcept = default;
  explicit file_buffer(std::size_t size);
  file_buffer(file_buffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  file_buffer& operator=(file_buffer&& other) noexcept {
    file_buffer(std::move(other)).swap(*this);
    return *this;
  }
  file_buffer(const file_buffer&) = delete;
  file_buffer& operator=(const file_buffer&) = delete;
  ~file_buffer() {
    if (data_) free_storage();  // inline: most are empty (moved from, or never used)
  }

  void swap(file_buffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
  }
  std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  /// The first `n` bytes.
  std::span<std::byte> first(std::size_t n) const noexcept { return {data_, n}; }

 private:
  void free_storage() noexcept;

  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

inline void swap(file_buffer& a, file_buffer& b) noexcept { a.swap(b); }

}  // namespace tempfile::detail
