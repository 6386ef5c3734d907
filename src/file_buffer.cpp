#include <tempfile/detail/file_buffer.hpp>

#include <tempfile/buffered_file.hpp>

#include <new>

#include "block_cache.hpp"

namespace tempfile::detail {
namespace {

using buffer_cache = block_cache<default_buffer_size, 16>;  // per thread: 4 MiB

}  // namespace

file_buffer::file_buffer(std::size_t size) : size_(size) {
  if (size == default_buffer_size)
    data_ = buffer_cache::take();
  else
    data_ = static_cast<std::byte*>(::operator new(size));
}

file_buffer::~file_buffer() {
  if (!data_) return;
  if (size_ == default_buffer_size)
    buffer_cache::give_back(data_);
  else
    ::operator delete(data_);
}

}  // namespace tempfile::detail
