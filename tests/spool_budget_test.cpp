// spool_budget: many spooled files under one memory limit, on one ring or on several threads;
// forced rollovers that fail keep data and accounting; memory returns when a file lets go.

#include <tempfile/tempfile.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <latch>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "file_model.hpp"
#include "support.hpp"

using namespace tempfile;
using test::has_errno;

namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;
constexpr std::size_t block = detail::spool_memory::block_size;
constexpr std::size_t largest_write = 64 * KiB;

/// Random bytes each spool's contents are cut from, at its own offset.
const std::string& source() {
  static const std::string bytes = [] {
    std::mt19937_64 rng(19);
    return test::random_bytes(rng, 2 * MiB);
  }();
  return bytes;
}

/// Contents of up to 1 MiB, sizes spread evenly over 1 KiB..1 MiB on a log scale (as uploads
/// are), taken from `source()` at a random offset so no two spools hold the same bytes.
std::string_view random_contents(std::mt19937_64& rng) {
  const double exponent = std::uniform_real_distribution<double>(10, 20)(rng);
  const auto size = static_cast<std::size_t>(std::exp2(exponent));
  const std::size_t start = rng() % MiB;
  return std::string_view(source()).substr(start, size);
}

/// Writes `contents` in random pieces of at most `largest_write`, letting the ring's other
/// coroutines run between pieces.
task<void> write_in_pieces(io_ring& ring, spooled_temporary_file& file, std::string_view contents,
                           std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  while (!contents.empty()) {
    const std::size_t n = std::min(contents.size(), 1 + rng() % largest_write);
    co_await file.write(contents.substr(0, n));
    contents.remove_prefix(n);
    co_await ops::nop(ring);
  }
}

struct spool_outcome {
  std::size_t spools = 0;
  std::size_t rolled_over = 0;
  std::size_t read_back_wrong = 0;
};

/// `count` spooled files made with `opts`, all written at once, then each read back and
/// compared; half are closed, the rest destroyed.
task<spool_outcome> spool_many(io_ring& ring, options opts, std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<spooled_temporary_file> files;
  std::vector<std::string_view> contents;
  std::vector<task<void>> writers;
  files.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    files.emplace_back(ring, opts);
    contents.push_back(random_contents(rng));
    writers.push_back(write_in_pieces(ring, files.back(), contents.back(), rng()));
  }
  co_await when_all(std::move(writers));

  spool_outcome outcome;
  outcome.spools = count;
  for (std::size_t i = 0; i < count; ++i) {
    if (files[i].rolled_over()) ++outcome.rolled_over;
    files[i].seek(0);
    const std::string back = co_await files[i].read();
    if (back != contents[i]) ++outcome.read_back_wrong;
    if (i % 2 == 0) co_await files[i].close();
  }
  co_return outcome;
}

}  // namespace

TEST_CASE("spool_budget: 1000 spools of up to 1 MiB stay within 64 MiB and read back intact",
          "[spool_budget]") {
  test::scratch_dir dir;
  io_ring ring;
  spool_budget budget(64 * MiB);
  const spool_outcome outcome =
      sync_wait(ring, spool_many(ring, options().memory_budget(budget).dir(dir.path()), 1000, 1));
  CHECK(outcome.read_back_wrong == 0);
  CHECK(budget.high_water() <= 64 * MiB + largest_write);
  CHECK(budget.high_water() > 32 * MiB);  // the spools did hold memory, charged to the budget
  CHECK(budget.rollovers() > 0);
  CHECK(budget.rollovers() == outcome.rolled_over);  // no max_size: every rollover was forced
  CHECK(budget.used() == 0);  // closed or destroyed, every spool gave its memory back
  CHECK(dir.entries() == 0);
}

/// What a thread may hold outside any budget (spool_budget.hpp): 16 MiB of spool blocks and
/// 4 MiB of file buffers kept for reuse.
constexpr std::size_t per_thread_cache = 20 * MiB;
/// The spools' own objects, descriptors' bookkeeping and coroutine frames: a few KiB each.
constexpr std::size_t per_spool_overhead = 8 * KiB;

/// A /proc/self/status field in bytes ("VmRSS", "VmHWM").
std::size_t status_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stoul(line.substr(field.size() + 1)) * KiB;
  return 0;
}

/// In a forked child, for a clean high-water mark: how far the resident memory rose above
/// what the child started with while `count` spools under `budget` were written `size`
/// bytes each, all open at once.
std::size_t peak_growth_spooling(spool_budget& budget, std::size_t count, std::size_t size) {
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::size_t growth = 0;
    try {
      test::scratch_dir dir;
      io_ring ring;
      const options opts = options().memory_budget(budget).dir(dir.path());
      const std::size_t before = status_bytes("VmRSS");
      std::ofstream("/proc/self/clear_refs") << "5";  // the high-water mark restarts here
      sync_wait(ring, [&]() -> task<void> {
        std::vector<spooled_temporary_file> files;
        std::vector<task<void>> writers;
        files.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
          files.emplace_back(ring, opts);
          writers.push_back(write_in_pieces(ring, files.back(),
                                            std::string_view(source()).substr(i % MiB, size), i));
        }
        co_await when_all(std::move(writers));
        for (spooled_temporary_file& file : files) co_await file.close();
      }());
      growth = status_bytes("VmHWM") - before;
    } catch (...) {
      growth = 0;
    }
    (void)!::write(pipe_fds[1], &growth, sizeof growth);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::size_t growth = 0;
  const ssize_t got = ::read(pipe_fds[0], &growth, sizeof growth);
  ::close(pipe_fds[0]);
  ::waitpid(pid, nullptr, 0);
  REQUIRE(got == static_cast<ssize_t>(sizeof growth));
  return growth;
}

TEST_CASE("spool_budget: 1000 spools of 300 KB, rolled over or not, peak within the budget",
          "[spool_budget][rss]") {
  spool_budget budget(64 * MiB);
  const std::size_t spools = 1000;
  const std::size_t growth = peak_growth_spooling(budget, spools, 300'000);
  INFO("peak resident growth: " << growth / MiB << " MiB");
  REQUIRE(growth > 0);  // the child measured it
  CHECK(growth <= budget.limit() + per_thread_cache + spools * per_spool_overhead);
}

TEST_CASE("spool_budget: two threads with a ring each share one budget", "[spool_budget][threads]") {
  test::scratch_dir dir;
  spool_budget budget(8 * MiB);
  constexpr int threads = 2;
  std::vector<spool_outcome> outcomes(threads);
  std::vector<std::string> failures(threads);
  std::latch start(threads);
  std::vector<std::thread> workers;
  for (int index = 0; index < threads; ++index)
    workers.emplace_back([&, index] {
      try {
        io_ring ring;
        start.arrive_and_wait();
        outcomes[static_cast<std::size_t>(index)] = sync_wait(
            ring, spool_many(ring, options().memory_budget(budget).dir(dir.path()), 100,
                             static_cast<std::uint64_t>(100 + index)));
      } catch (const std::exception& e) {
        failures[static_cast<std::size_t>(index)] = e.what();
      }
    });
  for (auto& worker : workers) worker.join();

  std::size_t rolled_over = 0;
  for (int index = 0; index < threads; ++index) {
    const auto i = static_cast<std::size_t>(index);
    CHECK(failures[i].empty());
    CHECK(outcomes[i].spools == 100);
    CHECK(outcomes[i].read_back_wrong == 0);
    rolled_over += outcomes[i].rolled_over;
  }
  CHECK(budget.high_water() <= 8 * MiB + largest_write);
  CHECK(budget.high_water() > 4 * MiB);
  CHECK(budget.rollovers() == rolled_over);
  CHECK(budget.rollovers() > 0);
  CHECK(budget.used() == 0);
}

TEST_CASE("spool_budget: a forced rollover that hits ENOSPC keeps data and accounting",
          "[spool_budget]") {
  TEST_TINY_TMPFS_OR_SKIP(tiny, "64k");
  io_ring ring;
  const int fds_before = test::open_fds();
  std::mt19937_64 rng(7);
  const std::string data = test::random_bytes(rng, 5 * block);
  spool_budget budget(4 * block);
  spooled_temporary_file file(ring, options().memory_budget(budget).dir(tiny.path()));
  auto read_back = [&]() -> task<std::string> {
    file.seek(0);
    co_return co_await file.read();
  };

  sync_wait(ring, file.write(std::string_view(data).substr(0, 3 * block)));
  CHECK(budget.used() == 3 * block);
  // Two more blocks pass the limit: the rollover is forced, and the tmpfs cannot take it.
  CHECK_THROWS_MATCHES(sync_wait(ring, file.write(std::string_view(data).substr(3 * block))),
                       std::system_error, has_errno(ENOSPC));
  CHECK_FALSE(file.rolled_over());
  CHECK(test::open_fds() == fds_before);  // the partial file was closed
  CHECK(tiny.empty());                     // and its blocks freed
  CHECK(file.tell() == static_cast<std::int64_t>(data.size()));  // the triggering write is kept
  CHECK(sync_wait(ring, read_back()) == data);
  CHECK(budget.used() == 5 * block);  // charged for all it holds, past the limit
  CHECK(budget.high_water() == 5 * block);
  CHECK(budget.rollovers() == 0);

  tiny.resize("8m");
  const std::string more = "one more byte";
  file.seek(0, SEEK_END);
  sync_wait(ring, file.write(more));  // still past the limit: rolls over, now with room
  CHECK(file.rolled_over());
  CHECK(budget.rollovers() == 1);
  CHECK(budget.used() == 0);
  CHECK(sync_wait(ring, read_back()) == data + more);
}

TEST_CASE("spool_budget: memory returns on rollover, truncate, close, move and destruction",
          "[spool_budget]") {
  test::scratch_dir dir;
  io_ring ring;
  spool_budget budget(8 * block);
  const options opts = options().memory_budget(budget).dir(dir.path());
  const std::string two_blocks(2 * block - 100, 'm');
  auto spool_holding = [&](const std::string& contents) {
    spooled_temporary_file file(ring, opts);
    sync_wait(ring, file.write(contents));
    return file;
  };

  {
    spooled_temporary_file file = spool_holding(two_blocks);
    CHECK(budget.used() == 2 * block);  // whole blocks are charged
    sync_wait(ring, file.truncate(10));
    CHECK(budget.used() == block);
    sync_wait(ring, file.truncate(3 * block));  // extends with zeros: charged too
    CHECK(budget.used() == 3 * block);
    sync_wait(ring, file.rollover());  // asked for, not forced
    CHECK(budget.used() == block);  // the contents' blocks returned; the file's buffer is one
    CHECK(budget.rollovers() == 0);
  }
  CHECK(budget.used() == 0);
  {
    spooled_temporary_file closed = spool_holding(two_blocks);
    sync_wait(ring, closed.close());
    CHECK(budget.used() == 0);
  }
  {
    spooled_temporary_file destroyed = spool_holding(two_blocks);
    CHECK(budget.used() == 2 * block);
  }
  CHECK(budget.used() == 0);
  {
    std::optional<spooled_temporary_file> source(spool_holding(two_blocks));
    spooled_temporary_file target = std::move(*source);
    CHECK(budget.used() == 2 * block);  // the charge moves with the memory
    source.reset();
    CHECK(budget.used() == 2 * block);  // the moved-from file returns nothing
    spooled_temporary_file assigned = spool_holding("x");
    CHECK(budget.used() == 3 * block);
    assigned = std::move(target);  // its own block returns
    CHECK(budget.used() == 2 * block);
    assigned.seek(0);
    CHECK(sync_wait(ring, assigned.read()) == two_blocks);
  }
  CHECK(budget.used() == 0);
  CHECK(budget.high_water() == 4 * block);  // the rollover: contents and the file's buffer
}

TEST_CASE("spool_budget: max_size rollovers are not counted; a truncate past the limit is",
          "[spool_budget]") {
  test::scratch_dir dir;
  io_ring ring;
  spool_budget budget(4 * block);
  spooled_temporary_file sized(ring, options().memory_budget(budget).max_size(100).dir(dir.path()));
  sync_wait(ring, sized.write(std::string(101, 's')));
  CHECK(sized.rolled_over());
  CHECK(budget.rollovers() == 0);

  spooled_temporary_file grown(ring, options().memory_budget(budget).dir(dir.path()));
  sync_wait(ring, grown.write(std::string("abc")));
  sync_wait(ring, grown.truncate(5 * block));
  CHECK(grown.rolled_over());
  CHECK(budget.rollovers() == 1);
  CHECK(budget.used() == 2 * block);  // no contents in memory; each file's one-block buffer
  grown.seek(0);
  CHECK(sync_wait(ring, grown.read()) == "abc" + std::string(5 * block - 3, '\0'));
}

TEST_CASE("spool_budget: a rolled-over file's buffers are charged, one block or none when tight",
          "[spool_budget]") {
  test::scratch_dir dir;
  io_ring ring;
  const std::size_t default_buffers = buffered_file::buffer_memory(-1);
  CHECK(default_buffers == 3 * default_buffer_size);  // one filling, two written behind
  spool_budget budget(default_buffers + block);
  const options opts = options().memory_budget(budget).dir(dir.path());
  const std::string contents(1 * MiB, 'r');
  std::vector<spooled_temporary_file> files;
  for (const std::size_t charged : {default_buffers, block, std::size_t{0}}) {
    const std::size_t before = budget.used();
    files.emplace_back(ring, opts);
    sync_wait(ring, files.back().rollover());
    CHECK(budget.used() - before == charged);
    sync_wait(ring, files.back().write(contents));
  }
  CHECK(budget.high_water() <= budget.limit());
  for (spooled_temporary_file& file : files) {
    file.seek(0);
    CHECK(sync_wait(ring, file.read()) == contents);
  }
  for (spooled_temporary_file& file : files) sync_wait(ring, file.close());
  CHECK(budget.used() == 0);
}
