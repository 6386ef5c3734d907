#include "random_name.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
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

/// One thread's generator. A forked child inherits a copy of its parent's state, so the
/// owner pid is checked on every draw (as Python does) and a new pid means a fresh seed.
struct thread_generator {
  pid_t owner = 0;
  std::mt19937_64 engine;

  std::mt19937_64& current() {
    if (const pid_t pid = ::getpid(); pid != owner) {
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
