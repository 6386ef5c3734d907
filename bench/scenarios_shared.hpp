#pragma once
// What tempfile-bench's scenario families share: baselines, work split among workers and run.

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <tempfile/tempfile.hpp>

#include "interleave.hpp"
#include "thread_pool.hpp"

namespace tempfile_bench {

using tempfile::io_ring;
using tempfile::options;
using tempfile::task;
using byte_span = std::span<const std::byte>;

// Chunk sizes the "best pwrite" baseline tries.
inline constexpr std::size_t pwrite_sweep[] = {4u << 10, 16u << 10, 64u << 10, 256u << 10,
                                               1u << 20, 4u << 20};

// The synchronous baseline's threads: one per coroutine, up to this many.
inline constexpr unsigned max_pool_threads = 128;
// Baseline names shared by every concurrency (a plot draws one series per name).
inline const std::string pool_baseline = "sync calls on N threads (N = concurrency, at most 128)";
inline const std::string raw_baseline = "raw liburing, N files in flight";

inline std::string size_text(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + "M";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + "K";
  return std::to_string(bytes);
}

// The part of `total` that worker `index` of `workers` takes.
inline std::size_t share(std::size_t total, unsigned workers, unsigned index) {
  return total / workers + (index < total % workers ? 1 : 0);
}

// Runs `make_worker(i)` for every i < workers as concurrent coroutines on one ring.
template <class MakeWorker>
void run_concurrently(io_ring& ring, unsigned workers, MakeWorker make_worker) {
  std::vector<task<void>> tasks;
  tasks.reserve(workers);
  for (unsigned i = 0; i < workers; ++i) tasks.push_back(make_worker(i));
  sync_wait(ring, tempfile::when_all(std::move(tasks)));
}

// Runs `work(i, latencies_of_i)` on every thread of `pool`, pooling their latencies.
template <class Work>
void run_on_pool(thread_pool& pool, latency_sampler& latencies, Work work) {
  std::vector<latency_sampler> samplers(pool.size(), latency_sampler(1));
  pool.run([&](unsigned i) { work(i, samplers[i]); });
  for (auto& sampler : samplers)
    latencies.samples().insert(latencies.samples().end(), sampler.samples().begin(),
                               sampler.samples().end());
}

template <class File>
task<void> sync_to_disk(io_ring& ring, File& file) {
  co_await file.flush();
  co_await tempfile::ops::fsync(ring, file.fileno());
}

// The library's protocol for one directory: files go to `dir`, buffered as asked.
inline options file_options(const std::filesystem::path& dir) {
  options opts;
  opts.dir(dir);
  return opts;
}

}  // namespace tempfile_bench
