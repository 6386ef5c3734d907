// Removing a tree of 10,000 files (100 directories x 100 files): temporary_directory::cleanup
// against std::filesystem::remove_all and `rm -rf`, on identical trees, interleaved, on
// each filesystem named on the command line (default: /tmp and /dev/shm).
//
// Usage: tempfile_cleanup_compare [repetitions=9] [dir...]

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tempfile/temporary_directory.hpp>
#include <tempfile/tempfile.hpp>

#include "ring_thread.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

constexpr int directories = 100;
constexpr int files_per_directory = 100;

void populate(const fs::path& root) {
  for (int d = 0; d < directories; ++d) {
    const fs::path dir = root / "d" += std::to_string(d);
    if (::mkdir(dir.c_str(), 0700) != 0)
      throw std::system_error(errno, std::generic_category(), "mkdir " + dir.string());
    for (int f = 0; f < files_per_directory; ++f) {
      const fs::path file = dir / "f" += std::to_string(f);
      const int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
      if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + file.string());
      ::close(fd);
    }
  }
}

fs::path fresh_tree(const fs::path& base) {
  std::string pattern = (base / "cleanup-compare-XXXXXX").string();
  if (!::mkdtemp(pattern.data()))
    throw std::system_error(errno, std::generic_category(), "mkdtemp in " + base.string());
  populate(pattern);
  return pattern;
}

void run_rm(const fs::path& path) {
  const std::string target = path.string();
  char rm[] = "rm";
  char flags[] = "-rf";
  char* argv[] = {rm, flags, const_cast<char*>(target.c_str()), nullptr};
  pid_t pid;
  if (const int rc = ::posix_spawnp(&pid, "rm", nullptr, nullptr, argv, environ); rc != 0)
    throw std::system_error(rc, std::generic_category(), "posix_spawnp rm");
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("rm -rf failed");
}

struct method {
  const char* name;
  // Prepares an identical tree, then returns the time its removal took.
  std::function<double(const fs::path& base)> run;
  std::vector<double> millis;
};

double elapsed_ms(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

/// Times `remove` on a fresh tree in `base`, its creation written back first.
template <class Remove>
double time_removal(const fs::path& base, Remove remove) {
  const fs::path tree = fresh_tree(base);
  ::sync();
  const auto start = clock_type::now();
  remove(tree);
  return elapsed_ms(start);
}

double time_cleanup(tempfile::io_ring& ring, const fs::path& base) {
  auto dir = tempfile::sync_wait(
      ring, tempfile::temporary_directory::create(ring, tempfile::options().dir(base)));
  populate(dir.path());
  ::sync();
  const auto start = clock_type::now();
  tempfile::sync_wait(ring, dir.cleanup());
  return elapsed_ms(start);
}

void report(const method& m) {
  std::vector<double> v = m.millis;
  std::sort(v.begin(), v.end());
  std::printf("  %-34s median %7.2f ms  min %7.2f  max %7.2f  (n=%zu)\n", m.name,
              v[v.size() / 2], v.front(), v.back(), v.size());
}

}  // namespace

int main(int argc, char** argv) {
  const int repetitions = argc > 1 ? std::atoi(argv[1]) : 9;
  std::vector<fs::path> bases;
  for (int i = 2; i < argc; ++i) bases.emplace_back(argv[i]);
  if (bases.empty()) bases = {"/tmp", "/dev/shm"};

  tempfile::io_ring ring;  // defaults: io-wq workers free to run on any CPU
  tempfile::ring_options pinned;
  pinned.pin_workers = true;
  tempfile_bench::ring_thread pinned_ring(pinned);  // its own thread, hence its own io-wq
  for (const fs::path& base : bases) {
    std::vector<method> methods = {
        {"temporary_directory::cleanup",
         [&](const fs::path& b) { return time_cleanup(ring, b); },
         {}},
        {"  same, ring with pin_workers=true",
         [&](const fs::path& b) {
           double ms = 0;
           pinned_ring.run([&](tempfile::io_ring& r) { ms = time_cleanup(r, b); });
           return ms;
         },
         {}},
        {"std::filesystem::remove_all",
         [](const fs::path& b) {
           return time_removal(b, [](const fs::path& tree) { fs::remove_all(tree); });
         },
         {}},
        {"rm -rf (incl. process start)",
         [](const fs::path& b) { return time_removal(b, run_rm); },
         {}},
        {"rm -rf of a missing path (start only)",
         [](const fs::path& b) {
           const auto start = clock_type::now();
           run_rm(b / "cleanup-compare-missing");
           return elapsed_ms(start);
         },
         {}},
    };
    // Round-robin, so drift in the machine's state spreads over every method alike.
    for (int r = 0; r < repetitions; ++r)
      for (method& m : methods) m.millis.push_back(m.run(base));
    std::printf("%s: %d directories x %d files, %d repetitions\n", base.c_str(), directories,
                files_per_directory, repetitions);
    for (const method& m : methods) report(m);
    std::fflush(stdout);
  }
}
