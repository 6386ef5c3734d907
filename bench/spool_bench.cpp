// spooled_temporary_file: in-memory appends against a std::vector (1 or 16 spools alive at
// once, appended to in turn), and rollover against a synchronous write of the same bytes.
// bench/spool_vs_python.py adds Python's figure.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <tempfile/tempfile.hpp>

#include <string>
#include <vector>

namespace {

using namespace tempfile;

constexpr std::size_t chunk_size = 4096;
constexpr std::size_t append_total = 1 << 20;

const std::string& chunk() {
  static const std::string bytes(chunk_size, 's');
  return bytes;
}

std::size_t spools_of(const benchmark::State& state) { return static_cast<std::size_t>(state.range(0)); }

void set_bytes_appended(benchmark::State& state) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * append_total * spools_of(state)));
}

void spool_append_1MiB(benchmark::State& state) {
  io_ring ring;
  auto append = [&]() -> task<void> {
    std::vector<spooled_temporary_file> files;
    files.reserve(spools_of(state));
    for (std::size_t i = 0; i < spools_of(state); ++i)
      files.emplace_back(ring, options().max_size(append_total));
    for (std::size_t done = 0; done < append_total; done += chunk_size)
      for (auto& file : files) co_await file.write(chunk());
    benchmark::DoNotOptimize(files.front().tell());
  };
  for (auto _ : state) sync_wait(ring, append());
  set_bytes_appended(state);
}

void append_in_turn(std::vector<std::vector<char>>& memories) {
  for (std::size_t done = 0; done < append_total; done += chunk_size)
    for (auto& memory : memories) memory.insert(memory.end(), chunk().begin(), chunk().end());
  benchmark::DoNotOptimize(memories.front().data());
}

// A vector reserved anew each time, as a spool is made anew.
void vector_append_1MiB(benchmark::State& state) {
  for (auto _ : state) {
    std::vector<std::vector<char>> memories(spools_of(state));
    for (auto& memory : memories) memory.reserve(append_total);
    append_in_turn(memories);
  }
  set_bytes_appended(state);
}

// The same vectors cleared and refilled: their pages stay mapped, the best any recycling can do.
void vector_append_1MiB_reused(benchmark::State& state) {
  std::vector<std::vector<char>> memories(spools_of(state));
  for (auto& memory : memories) memory.reserve(append_total);
  for (auto _ : state) {
    for (auto& memory : memories) memory.clear();
    append_in_turn(memories);
  }
  set_bytes_appended(state);
}

void spool_rollover(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::string contents(size, 'r');
  io_ring ring;
  for (auto _ : state) {
    state.PauseTiming();
    spooled_temporary_file file(ring, options());  // max_size 0: stays in memory until asked
    sync_wait(ring, file.write(contents));
    state.ResumeTiming();
    sync_wait(ring, file.rollover());
    state.PauseTiming();
    sync_wait(ring, file.close());
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void sync_write_of_rollover_size(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::string contents(size, 'r');
  const std::string dir = gettempdir();
  for (auto _ : state) {
    // Same work as a rollover: create an unnamed file, write everything, keep it open.
    const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    for (std::size_t done = 0; done < size;) {
      const ssize_t n = ::pwrite(fd, contents.data() + done, size - done, static_cast<off_t>(done));
      if (n <= 0) state.SkipWithError("pwrite failed");
      done += static_cast<std::size_t>(n);
    }
    state.PauseTiming();
    ::close(fd);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

}  // namespace

BENCHMARK(spool_append_1MiB)->Arg(1)->Arg(16);
BENCHMARK(vector_append_1MiB)->Arg(1)->Arg(16);
BENCHMARK(vector_append_1MiB_reused)->Arg(1)->Arg(16);
BENCHMARK(spool_rollover)
    ->Arg(1 << 20)
    ->Arg(64 << 20)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(sync_write_of_rollover_size)
    ->Arg(1 << 20)
    ->Arg(64 << 20)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_MAIN();
