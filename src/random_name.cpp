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
/// zeroes in the child (MADV_WIPEONFORK, Linux 4.14) holds the pid of the process that last
/// seeded; zero there means a fork happened since. Where the page cannot be had, getpid(2)
/// is asked on every draw instead, as Python does.
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
    owner_ = new (page) std::atomic<pid_t>(0);
  }
  fork_epoch(const fork_epoch&) = delete;
  fork_epoch& operator=(const fork_epoch&) = delete;

  /// The process drawing now (its pid, asked of the kernel only after a fork).
  pid_t current() noexcept {
    if (!owner_) return ::getpid();
    pid_t pid = owner_->load(std::memory_order_acquire);
    if (pid == 0) {
      pid_t expected = 0;
      pid = ::getpid();
      if (!owner_->compare_exchange_strong(expected, pid, std::memory_order_acq_rel)) pid = expected;
    }
    return pid;
  }

 private:
  static constexpr std::size_t page_size = 4096;
  std::atomic<pid_t>* owner_ = nullptr;  // in the wiped page; never unmapped
};

/// One thread's generator. A forked child inherits a copy of its parent's state, so a new
/// process means a fresh seed.
struct thread_generator {
  pid_t owner = 0;
  std::mt19937_64 engine;

  std::mt19937_64& current() {
    static fork_epoch process;
    if (const pid_t pid = process.current(); pid != owner) {
      engine = seeded_engine();
      owner = pid;
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
