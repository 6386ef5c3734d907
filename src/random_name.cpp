#include "random_name.hpp"

#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <new>
#include <random>
#include <system_error>

namespace tempfile::detail {
namespace {

std::mt19937_64 seeded_engine() {
  std::array<std::uint32_t, 8> entropy;
  auto* bytes = reinterpret_cast<unsigned char*>(entropy.data());
  std::size_t filled = 0;
  while (filled < sizeof entropy) {
    const ssize_t got = ::getrandom(bytes + filled, sizeof entropy - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    filled += static_cast<std::size_t>(got);
  }
  std::seed_seq seed(entropy.begin(), entropy.end());
  return std::mt19937_64(seed);
}

/// Tells a forked child from its parent without a system call per draw: a page the kernel
/// zeroes in the child (MADV_WIPEONFORK, Linux 4.14) holds the generation of the process
/// that drew last, numbered anew after every fork, so that a child whose pid equals its
/// parent's (pid 1 of a new PID namespace forked by a namespace's init) is told apart too.
/// Where the page cannot be had, the pid (getpid(2) on every draw, as Python does) stands in.
class fork_epoch {
 public:
  fork_epoch() noexcept {
    void* page = ::mmap(nullptr, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
    if (page == MAP_FAILED) return;
    if (::madvise(page, page_size, MADV_WIPEONFORK) != 0) {
      ::munmap(page, page_size);
      return;
    }
    generation_ = new (page) std::atomic<std::uint64_t>(0);
  }
  fork_epoch(const fork_epoch&) = delete;
  fork_epoch& operator=(const fork_epoch&) = delete;

  /// The process drawing now: never 0, and after a fork unlike any value the parent's
  /// generators could hold.
  std::uint64_t current() noexcept {
    if (!generation_) return static_cast<std::uint64_t>(::getpid());
    std::uint64_t generation = generation_->load(std::memory_order_acquire);
    if (generation == 0) {
      // The last generation numbered is copied into the child with the rest of its memory.
      const std::uint64_t fresh = last_numbered_.fetch_add(1, std::memory_order_relaxed) + 1;
      if (generation_->compare_exchange_strong(generation, fresh, std::memory_order_acq_rel))
        generation = fresh;
    }
    return generation;
  }

 private:
  static constexpr std::size_t page_size = 4096;
  std::atomic<std::uint64_t>* generation_ = nullptr;  // in the wiped page; never unmapped
  std::atomic<std::uint64_t> last_numbered_ = 0;
};

/// One thread's generator. A forked child inherits a copy of its parent's state, so a new
/// process means a fresh seed.
struct thread_generator {
  std::uint64_t epoch = 0;
  std::mt19937_64 engine;

  std::mt19937_64& current() {
    static fork_epoch process;
    if (const std::uint64_t now = process.current(); now != epoch) {
      engine = seeded_engine();
      epoch = now;
    }
    return engine;
  }
};

}  // namespace

std::string random_name() {
  thread_local thread_generator generator;
  auto& engine = generator.current();
  std::uniform_int_distribution<std::size_t> pick(0, name_alphabet.size() - 1);
  std::string name(random_name_length, '\0');
  for (char& c : name) c = name_alphabet[pick(engine)];
  return name;
}

}  // namespace tempfile::detail
