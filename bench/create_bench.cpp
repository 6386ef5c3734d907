// One-at-a-time anonymous file creation — openat(O_TMPFILE), write 4 KiB, close — through
// the ring for every combination of the ring_options defaults under measurement, beside
// the same system calls made synchronously, on tmpfs and on the disk-backed /tmp.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <string>

#include <tempfile/tempfile.hpp>

#include "workloads.hpp"

namespace {

using tempfile::io_ring;
using tempfile::task;

constexpr std::size_t payload_size = 4096;
const std::array<std::byte, payload_size> payload{};

struct directory {
  explicit directory(const char* path) : fd(tempfile_bench::open_directory(path)) {}
  ~directory() { ::close(fd); }
  directory(const directory&) = delete;
  directory& operator=(const directory&) = delete;
  int fd;
};

task<void> create_each_iteration(io_ring& ring, benchmark::State& state, int dirfd) {
  for (auto _ : state)
    co_await tempfile_bench::library_create_with_ops(ring, dirfd, ".", payload, false);
}

void library_create(benchmark::State& state, const char* dir, bool defer_taskrun,
                    bool pin_workers) {
  const directory target(dir);
  tempfile::ring_options options;
  options.defer_taskrun = defer_taskrun;
  options.pin_workers = pin_workers;
  io_ring ring(options);
  sync_wait(ring, create_each_iteration(ring, state, target.fd));
  state.SetItemsProcessed(state.iterations());
}

void sync_create(benchmark::State& state, const char* dir) {
  const directory target(dir);
  for (auto _ : state) tempfile_bench::sync_create_tmpfile(target.fd, ".", payload, false);
  state.SetItemsProcessed(state.iterations());
}

void register_all() {
  for (const char* dir : {"/dev/shm", "/tmp"}) {
    benchmark::RegisterBenchmark(("sync_create" + std::string(dir)).c_str(), sync_create, dir)
        ->UseRealTime();
    for (bool defer : {true, false})
      for (bool pin : {true, false}) {
        const std::string name = "library_create" + std::string(dir) + "/defer:" +
                                 (defer ? "1" : "0") + "/pin:" + (pin ? "1" : "0");
        // Real time: the work runs in io-wq workers, not on the benchmark thread.
        benchmark::RegisterBenchmark(name.c_str(), library_create, dir, defer, pin)
            ->UseRealTime();
      }
  }
}

// Registered during static initialisation, before BENCHMARK_MAIN parses the command line.
const bool registered = (register_all(), true);

}  // namespace

BENCHMARK_MAIN();
