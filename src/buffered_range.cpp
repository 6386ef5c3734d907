#include <tempfile/detail/buffered_range.hpp>

#include <algorithm>
#include <cstring>

namespace tempfile::detail {

// Writes grow the storage only as far as they need, fourfold from `smallest_buffer_size` up
// to the capacity: a file holding a few KiB never takes a full buffer, so many small files
// open at once do not map and unmap 256 KiB each (bench/README.md, "Small files in flight").
void buffered_range::append(std::span<const std::byte> data) {
  const std::size_t needed = len_ + data.size();
  if (needed > storage_.size()) {
    std::size_t size = std::max(storage_.size(), smallest_buffer_size);
    while (size < needed) size *= 4;
    file_buffer grown(std::min(size, capacity_));
    if (len_ != 0) std::memcpy(grown.data(), storage_.data(), len_);
    storage_ = std::move(grown);
  }
  append_as_is(data);
}

std::size_t buffered_range::copy_out(std::int64_t position,
                                     std::span<std::byte> out) const noexcept {
  const auto from = static_cast<std::size_t>(position - offset_);
  const std::size_t n = std::min(out.size(), len_ - from);
  std::memcpy(out.data(), storage_.data() + from, n);
  return n;
}

std::span<std::byte> buffered_range::read_ahead_at(std::int64_t offset) {
  if (storage_.size() != capacity_) storage_ = file_buffer(capacity_);
  start_at(offset);
  return storage_.first(capacity_);
}

void buffered_range::release() noexcept {
  forget();
  storage_ = {};
}

}  // namespace tempfile::detail
