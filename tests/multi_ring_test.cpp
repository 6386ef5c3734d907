// Two threads, one io_ring each, working in the same directory at the same time: every
// file type and directory trees, the per-thread name generator, the shared module data.
// Built with -fsanitize=thread these are the library's data-race checks.

#include <fcntl.h>

#include <tempfile/tempfile.hpp>

#include <array>
#include <exception>
#include <filesystem>
#include <latch>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "module_state.hpp"
#include "support.hpp"

using namespace tempfile;
namespace fs = std::filesystem;

namespace {

constexpr int thread_count = 2;

/// Collects one thread's failed expectations: Catch2's assertions are not thread-safe, so
/// worker threads record what went wrong and the main thread checks it.
class findings {
 public:
  void expect(bool ok, std::string_view what) {
    if (!ok) text_ += std::string(what) + "; ";
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

/// Runs `work(ring, thread_index, findings)` (a coroutine) on `thread_count` threads released
/// together, each driving its own io_ring. Returns each thread's findings, "" when it passed.
template <class Work>
std::array<std::string, thread_count> run_on_separate_rings(Work work) {
  std::array<std::string, thread_count> reports;
  std::latch start(thread_count);
  std::vector<std::thread> threads;
  for (int index = 0; index < thread_count; ++index)
    threads.emplace_back([&, index] {
      findings found;
      try {
        io_ring ring;
        start.arrive_and_wait();
        sync_wait(ring, work(ring, index, found));
      } catch (const std::exception& e) {
        found.expect(false, std::string("threw: ") + e.what());
      }
      reports[static_cast<std::size_t>(index)] = found.text();
    });
  for (auto& t : threads) t.join();
  return reports;
}

/// Bytes no other thread or round writes: a mix-up between threads shows in the contents.
std::string payload(int thread_index, int round, std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = static_cast<char>('a' + (static_cast<std::size_t>(thread_index * 7 + round) + i) % 26);
  bytes.front() = static_cast<char>('0' + thread_index);
  return bytes;
}

/// The whole contents must be `data`; then the file is closed.
template <class File>
task<void> expect_contents_and_close(File& file, const std::string& data, std::string_view file_type,
                                     findings& found) {
  file.seek(0);
  const std::string back = co_await file.read();
  found.expect(back == data, std::string(file_type) + " read back other bytes");
  co_await file.close();
}

task<void> unnamed_file_round(io_ring& ring, const fs::path& dir, const std::string& data,
                              findings& found) {
  const options opts = options().dir(dir).buffering(4096);
  temporary_file file = co_await temporary_file::create(ring, opts);
  co_await file.write(data);
  co_await expect_contents_and_close(file, data, "temporary_file", found);
}

task<void> named_file_round(io_ring& ring, const fs::path& dir, const std::string& data,
                            findings& found) {
  const options opts = options().dir(dir);
  named_temporary_file file = co_await named_temporary_file::create(ring, opts);
  co_await file.write(data);
  co_await file.flush();
  const fs::path name = file.name();
  found.expect(test::slurp(name) == data, "named_temporary_file holds other bytes on disk");
  co_await file.close();
  found.expect(!fs::exists(name), "named_temporary_file survived close()");
}

task<void> spooled_file_round(io_ring& ring, const fs::path& dir, const std::string& data,
                              findings& found) {
  const std::size_t half = data.size() / 2;
  spooled_temporary_file file(ring, options().dir(dir).max_size(half));
  co_await file.write(std::string_view(data).substr(0, half));
  found.expect(!file.rolled_over(), "spooled file rolled over within max_size");
  co_await file.write(std::string_view(data).substr(half));
  found.expect(file.rolled_over(), "spooled file stayed in memory past max_size");
  co_await expect_contents_and_close(file, data, "spooled_temporary_file", found);
}

/// A temporary directory holding a subdirectory with kept files in both levels.
task<void> directory_tree_round(io_ring& ring, const fs::path& dir, const std::string& data,
                                findings& found) {
  const options in_parent = options().dir(dir);
  temporary_directory tree = co_await temporary_directory::create(ring, in_parent);
  const fs::path nested = tree.path() / "nested";
  co_await ops::mkdirat(ring, AT_FDCWD, nested.c_str(), 0700);
  const std::array<fs::path, 2> levels{tree.path(), nested};
  for (const fs::path& where : levels) {
    const options kept = options().dir(where).auto_delete(false);
    named_temporary_file file = co_await named_temporary_file::create(ring, kept);
    co_await file.write(data);
    co_await file.close();
  }
  found.expect(test::slurp(*fs::directory_iterator(nested)) == data, "nested file holds other bytes");
  co_await tree.cleanup();
  found.expect(!fs::exists(tree.path()), "temporary_directory survived cleanup()");
}

}  // namespace

TEST_CASE("two threads with a ring each use every file type in one directory at once",
          "[threads]") {
  test::scratch_dir dir;
  const int fds_before = test::open_fds();
  constexpr int rounds = 25;
  const auto reports = run_on_separate_rings([&](io_ring& ring, int index, findings& found) -> task<void> {
    for (int round = 0; round < rounds; ++round) {
      const std::string data = payload(index, round, 20'000 + static_cast<std::size_t>(round) * 997);
      co_await unnamed_file_round(ring, dir.path(), data, found);
      co_await named_file_round(ring, dir.path(), data, found);
      co_await spooled_file_round(ring, dir.path(), data, found);
      co_await directory_tree_round(ring, dir.path(), data, found);
    }
  });
  for (const auto& report : reports) CHECK(report == "");
  CHECK(dir.entries() == 0);
  CHECK(test::open_fds() == fds_before);
}

TEST_CASE("two threads draw different names from their own generators", "[threads]") {
  test::scratch_dir dir;
  constexpr int names_per_thread = 2000;
  std::array<std::vector<fs::path>, thread_count> drawn;
  const auto reports = run_on_separate_rings([&](io_ring& ring, int index, findings& found) -> task<void> {
    auto& mine = drawn[static_cast<std::size_t>(index)];
    for (int i = 0; i < names_per_thread; ++i) mine.push_back(detail::random_path(dir.path(), options()));
    // The same generator behind mkstemp over this thread's ring.
    const options in_dir = options().dir(dir.path());
    created_file created = co_await mkstemp(ring, in_dir);
    found.expect(created.fd.get() >= 0, "mkstemp returned no descriptor");
    mine.push_back(created.path);
    fs::remove(created.path);
  });
  for (const auto& report : reports) CHECK(report == "");
  std::set<fs::path> all;
  for (const auto& names : drawn) all.insert(names.begin(), names.end());
  CHECK(all.size() == thread_count * (names_per_thread + 1));
  CHECK(dir.entries() == 0);
}

TEST_CASE("two threads' first gettempdir calls race and agree, and files land there",
          "[threads]") {
  test::module_state_guard state;
  test::scratch_dir scratch;
  state.environment(scratch.path().string());  // also forgets the cached search
  std::array<fs::path, thread_count> seen;
  const auto reports = run_on_separate_rings([&](io_ring& ring, int index, findings& found) -> task<void> {
    seen[static_cast<std::size_t>(index)] = gettempdir();
    temporary_file file = co_await temporary_file::create(ring);  // dir: gettempdir()
    const std::string data = "in the default directory";
    co_await file.write(data);
    co_await expect_contents_and_close(file, data, "temporary_file", found);
  });
  for (const auto& report : reports) CHECK(report == "");
  for (const auto& path : seen) CHECK(path == scratch.path());
  CHECK(scratch.entries() == 0);
}
