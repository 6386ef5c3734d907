// ns per awaited NOP: the coroutine layer (task, when_all, io_ring) beside raw liburing
// doing the same submissions on a ring with the same setup flags, for every combination
// of the ring_options defaults under measurement.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include <tempfile/tempfile.hpp>

#include "raw_ring.hpp"
#include "workloads.hpp"

namespace {

using tempfile::io_ring;
using tempfile::ring_options;
using tempfile::task;
using tempfile_bench::raw_ring;

constexpr unsigned ring_entries = 256;

ring_options library_options(bool defer_taskrun, bool pin_workers) {
  ring_options options;
  options.entries = ring_entries;
  options.defer_taskrun = defer_taskrun;
  options.pin_workers = pin_workers;
  return options;
}

// A fresh task and sync_wait per NOP: what a caller outside any coroutine pays.
void library_nop_sync_wait(benchmark::State& state, bool defer_taskrun, bool pin_workers) {
  io_ring ring(library_options(defer_taskrun, pin_workers));
  for (auto _ : state) sync_wait(ring, tempfile_bench::library_nop(ring));
  state.SetItemsProcessed(state.iterations());
}

task<void> await_nop_each_iteration(io_ring& ring, benchmark::State& state) {
  for (auto _ : state) co_await tempfile::ops::nop(ring);
}

// One long-running task awaiting one NOP after another (queue depth 1).
void library_nop_qd1(benchmark::State& state, bool defer_taskrun, bool pin_workers) {
  io_ring ring(library_options(defer_taskrun, pin_workers));
  sync_wait(ring, await_nop_each_iteration(ring, state));
  state.SetItemsProcessed(state.iterations());
}

task<void> await_batch_each_iteration(io_ring& ring, benchmark::State& state, unsigned batch) {
  for (auto _ : state) co_await tempfile_bench::library_nop_batch(ring, batch);
}

// One long-running task awaiting when_all over `batch` one-NOP tasks per iteration.
void library_nop_batch(benchmark::State& state, bool defer_taskrun, bool pin_workers) {
  const auto batch = static_cast<unsigned>(state.range(0));
  io_ring ring(library_options(defer_taskrun, pin_workers));
  sync_wait(ring, await_batch_each_iteration(ring, state, batch));
  state.SetItemsProcessed(state.iterations() * batch);
}

task<void> await_nops(io_ring& ring, unsigned count) {
  for (unsigned i = 0; i < count; ++i) co_await tempfile::ops::nop(ring);
}

task<void> await_streams_each_iteration(io_ring& ring, benchmark::State& state,
                                        unsigned streams, unsigned nops_per_stream) {
  for (auto _ : state) {
    std::vector<task<void>> workers;
    workers.reserve(streams);
    for (unsigned i = 0; i < streams; ++i) workers.push_back(await_nops(ring, nops_per_stream));
    co_await tempfile::when_all(std::move(workers));
  }
}

// `batch` long-running coroutines awaiting NOPs in a loop: the ring keeps `batch` NOPs per
// io_uring_enter while task and when_all costs are paid once per 256 NOPs, not per NOP.
void library_nop_streams(benchmark::State& state, bool defer_taskrun, bool pin_workers) {
  constexpr unsigned nops_per_stream = 256;
  const auto streams = static_cast<unsigned>(state.range(0));
  io_ring ring(library_options(defer_taskrun, pin_workers));
  sync_wait(ring, await_streams_each_iteration(ring, state, streams, nops_per_stream));
  state.SetItemsProcessed(state.iterations() * streams * nops_per_stream);
}

void raw_nop_qd1(benchmark::State& state, bool defer_taskrun) {
  raw_ring ring(ring_entries, tempfile_bench::ring_setup_flags(defer_taskrun));
  for (auto _ : state) ring.nop();
  state.SetItemsProcessed(state.iterations());
}

void raw_nop_batch(benchmark::State& state, bool defer_taskrun) {
  const auto batch = static_cast<unsigned>(state.range(0));
  raw_ring ring(ring_entries, tempfile_bench::ring_setup_flags(defer_taskrun));
  for (auto _ : state) ring.nop_batch(batch);
  state.SetItemsProcessed(state.iterations() * batch);
}

std::string suffix(bool defer_taskrun) {
  return std::string("/defer:") + (defer_taskrun ? "1" : "0");
}

std::string suffix(bool defer_taskrun, bool pin_workers) {
  return suffix(defer_taskrun) + "/pin:" + (pin_workers ? "1" : "0");
}

void register_all() {
  constexpr int batch = 32;
  for (bool defer : {true, false}) {
    benchmark::RegisterBenchmark(("raw_nop_qd1" + suffix(defer)).c_str(), raw_nop_qd1, defer);
    benchmark::RegisterBenchmark(("raw_nop_batch" + suffix(defer)).c_str(), raw_nop_batch, defer)
        ->Arg(batch);
    for (bool pin : {true, false}) {
      const std::string options = suffix(defer, pin);
      benchmark::RegisterBenchmark(("library_nop_sync_wait" + options).c_str(),
                                   library_nop_sync_wait, defer, pin);
      benchmark::RegisterBenchmark(("library_nop_qd1" + options).c_str(), library_nop_qd1,
                                   defer, pin);
      benchmark::RegisterBenchmark(("library_nop_batch" + options).c_str(), library_nop_batch,
                                   defer, pin)
          ->Arg(batch);
      benchmark::RegisterBenchmark(("library_nop_streams" + options).c_str(),
                                   library_nop_streams, defer, pin)
          ->Arg(batch);
    }
  }
}

// Registered during static initialisation, before BENCHMARK_MAIN parses the command line.
const bool registered = (register_all(), true);

}  // namespace

BENCHMARK_MAIN();
