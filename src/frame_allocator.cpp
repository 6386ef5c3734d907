#include <tempfile/task.hpp>

#include <array>
#include <cstdlib>
#include <new>

namespace tempfile::detail {
namespace {

constexpr std::size_t granule = 64;
constexpr std::size_t size_classes = 32;  // frames up to 2 KiB are recycled
constexpr std::size_t kept_per_class = 256;

struct free_frame {
  free_frame* next;
};

struct free_list {
  free_frame* head;
  std::size_t count;
};

// Trivially constructible and destructible, so the hot path reaches it without a TLS
// initialisation guard; `cache_cleanup` is registered the first time a frame is kept.
// initial-exec: a direct TLS access, no __tls_get_addr call, in a PIC library too.
[[gnu::tls_model("initial-exec")]] constinit thread_local std::array<free_list, size_classes>
    cache{};

struct cache_cleanup {
  ~cache_cleanup() {
    for (auto& list : cache)
      while (free_frame* f = list.head) {
        list.head = f->next;
        std::free(f);
      }
  }
};

void* take(std::size_t size_class) noexcept {
  free_list& list = cache[size_class];
  free_frame* f = list.head;
  if (!f) return nullptr;
  list.head = f->next;
  --list.count;
  return f;
}

bool keep(void* frame, std::size_t size_class) noexcept {
  free_list& list = cache[size_class];
  if (list.count == kept_per_class) return false;
  if (list.count == 0) {
    thread_local cache_cleanup cleanup;  // constructed once per thread, frees at exit
    (void)cleanup;
  }
  list.head = ::new (frame) free_frame{list.head};
  ++list.count;
  return true;
}

std::size_t size_class_of(std::size_t size) noexcept { return (size - 1) / granule; }

}  // namespace

void* allocate_frame(std::size_t size) {
  const std::size_t size_class = size_class_of(size);
  if (size_class < size_classes) {
    if (void* frame = take(size_class)) return frame;
    size = (size_class + 1) * granule;  // any frame of the class can reuse it later
  }
  if (void* frame = std::malloc(size)) return frame;
  throw std::bad_alloc();
}

void deallocate_frame(void* frame, std::size_t size) noexcept {
  const std::size_t size_class = size_class_of(size);
  if (size_class < size_classes && keep(frame, size_class)) return;
  std::free(frame);
}

}  // namespace tempfile::detail
