#include <tempfile/file_buffer.hpp>

#include <tempfile/buffered_file.hpp>

#include <new>
#include <vector>

namespace tempfile::detail {
namespace {

constexpr std::size_t kept_buffers = 16;  // per thread: 4 MiB at the default size

/// Released default-size buffers of this thread.
struct buffer_cache {
  std::vector<std::byte*> free;
  buffer_cache() { free.reserve(kept_buffers); }
  buffer_cache(const buffer_cache&) = delete;
  buffer_cache& operator=(const buffer_cache&) = delete;
  ~buffer_cache() {
    for (std::byte* b : free) ::operator delete(b);
  }
};

thread_local buffer_cache cache;

}  // namespace

file_buffer::file_buffer(std::size_t size) : size_(size) {
  if (size == default_buffer_size && !cache.free.empty()) {
    data_ = cache.free.back();
    cache.free.pop_back();
  } else {
    data_ = static_cast<std::byte*>(::operator new(size));
  }
}

file_buffer::~file_buffer() {
  if (!data_) return;
  if (size_ == default_buffer_size && cache.free.size() < kept_buffers)
    cache.free.push_back(data_);  // capacity reserved: cannot throw
  else
    ::operator delete(data_);
}

}  // namespace tempfile::detail
