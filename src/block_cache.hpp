#pragma once
// `detail::block_cache`: memory blocks of one size released on this thread, kept for reuse.

#include <cstddef>
#include <new>
#include <vector>

namespace tempfile::detail {

/// Up to `Kept` released blocks of `BlockSize` bytes per thread. A new owner then writes to
/// pages already faulted in rather than to fresh ones, and takes no allocator lock. A block
/// may be released on another thread than the one that took it: it joins that thread's cache.
template <std::size_t BlockSize, std::size_t Kept>
class block_cache {
 public:
  block_cache(const block_cache&) = delete;
  block_cache& operator=(const block_cache&) = delete;

  /// An uninitialised block: a released one if this thread kept any.
  static std::byte* take() {
    std::vector<std::byte*>& free = of_this_thread().free_;
    if (free.empty()) return static_cast<std::byte*>(::operator new(BlockSize));
    std::byte* block = free.back();
    free.pop_back();
    return block;
  }

  /// Keeps `block` for reuse, or frees it when this thread keeps `Kept` already.
  static void give_back(std::byte* block) noexcept {
    std::vector<std::byte*>& free = of_this_thread().free_;
    if (free.size() < Kept)
      free.push_back(block);  // capacity reserved: cannot throw
    else
      ::operator delete(block);
  }

 private:
  block_cache() { free_.reserve(Kept); }
  ~block_cache() {
    for (std::byte* block : free_) ::operator delete(block);
  }
  static block_cache& of_this_thread() {
    thread_local block_cache cache;
    return cache;
  }

  std::vector<std::byte*> free_;
};

}  // namespace tempfile::detail
