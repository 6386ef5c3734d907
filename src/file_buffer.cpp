#include <tempfile/detail/file_buffer.hpp>

#include <tempfile/buffered_file.hpp>

#include <new>
#include <type_traits>

#include "block_cache.hpp"

namespace tempfile::detail {
namespace {

// Per thread: the sizes a small file's buffer grows through (buffered_range::append), then
// the default; at most 512 KiB, 1 MiB and 4 MiB kept.
using smallest_cache = block_cache<smallest_buffer_size, 32>;
using middle_cache = block_cache<smallest_buffer_size * 4, 16>;
using default_cache = block_cache<default_buffer_size, 16>;

/// Calls `f` with the type of the cache kept for buffers of `size` bytes (as a
/// std::type_identity); false when none is.
template <class F>
bool with_cache_for(std::size_t size, F f) {
  switch (size) {
    case smallest_buffer_size: f(std::type_identity<smallest_cache>()); return true;
    case smallest_buffer_size * 4: f(std::type_identity<middle_cache>()); return true;
    case default_buffer_size: f(std::type_identity<default_cache>()); return true;
    default: return false;
  }
}

}  // namespace

file_buffer::file_buffer(std::size_t size) : size_(size) {
  const bool cached = with_cache_for(
      size, [this](auto cache) { data_ = decltype(cache)::type::take(); });
  if (!cached) data_ = static_cast<std::byte*>(::operator new(size));
}

void file_buffer::free_storage() noexcept {
  const bool cached = with_cache_for(
      size_, [this](auto cache) { decltype(cache)::type::give_back(data_); });
  if (!cached) ::operator delete(data_);
}

}  // namespace tempfile::detail
