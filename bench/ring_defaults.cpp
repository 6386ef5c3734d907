// Chooses ring_options defaults from numbers: every combination of defer_taskrun and
// pin_workers, each on its own ring and thread (io-wq settings are per thread), against the
// synchronous or raw-liburing baseline, in short alternating bursts (a noisy shared machine
// drifts too much between long runs).
//
//   tempfile_ring_defaults [repetitions] [dir...]     (default: 21, /dev/shm and /tmp)

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <tempfile/tempfile.hpp>

#include "interleave.hpp"
#include "raw_ring.hpp"
#include "ring_thread.hpp"
#include "workloads.hpp"

namespace {

using namespace tempfile_bench;
using tempfile::io_ring;
using tempfile::task;

constexpr std::size_t files_per_burst = 400;
constexpr std::size_t nops_per_burst = 128 * 1024;
constexpr unsigned batch = 32;
const std::array<std::byte, 4096> payload{};

struct ring_variant {
  std::string name;
  std::unique_ptr<ring_thread> ring;
};

std::vector<ring_variant> all_variants() {
  std::vector<ring_variant> variants;
  for (bool defer : {true, false})
    for (bool pin : {true, false}) {
      tempfile::ring_options options;
      options.defer_taskrun = defer;
      options.pin_workers = pin;
      variants.push_back({std::string("defer:") + (defer ? "1" : "0") + " pin:" + (pin ? "1" : "0"),
                          std::make_unique<ring_thread>(options)});
    }
  return variants;
}

task<void> create_files(io_ring& ring, const char* dir) {
  for (std::size_t i = 0; i < files_per_burst; ++i)
    co_await library_create_with_ops(ring, AT_FDCWD, dir, payload, false);
}

task<void> nops_one_at_a_time(io_ring& ring) {
  for (std::size_t i = 0; i < nops_per_burst; ++i) co_await library_nop(ring);
}

task<void> nops_in_batches(io_ring& ring) {
  for (std::size_t i = 0; i < nops_per_burst / batch; ++i) co_await library_nop_batch(ring, batch);
}

// Prints each contender's median rate, by wall time and by process CPU time, and its ratio
// to the first contender (the baseline).
void report(const std::string& title, const std::vector<contender>& sides, double ops,
            int repetitions) {
  const auto results = measure_interleaved(sides, repetitions, 1, [&](int rep) {
    std::fprintf(stderr, "\r%s: repetition %d/%d ", title.c_str(), rep + 1, repetitions);
  });
  std::fprintf(stderr, "\r%*s\r", 60, "");
  std::printf("%s (medians of %d alternating bursts of %.0f)\n", title.c_str(), repetitions, ops);
  std::printf("  %-24s %12s %7s %7s %12s %7s\n", "", "wall ops/s", "spread", "ratio",
              "CPU ops/s", "ratio");
  const measurement& baseline = results[0];
  for (std::size_t i = 0; i < sides.size(); ++i) {
    const measurement& m = results[i];
    std::printf("  %-24s %12.0f %6.0f%% %6.2fx %12.0f %6.2fx\n", sides[i].name.c_str(),
                ops / m.median_seconds, m.spread * 100, baseline.median_seconds / m.median_seconds,
                ops / m.median_cpu_seconds, baseline.median_cpu_seconds / m.median_cpu_seconds);
  }
}

void measure_create(std::vector<ring_variant>& variants, const char* dir, int repetitions) {
  std::vector<contender> sides = {{"sync libc", [dir](latency_sampler&) {
                                     for (std::size_t i = 0; i < files_per_burst; ++i)
                                       sync_create_tmpfile(AT_FDCWD, dir, payload, false);
                                   }}};
  for (auto& variant : variants)
    sides.push_back({"ring " + variant.name, [&variant, dir](latency_sampler&) {
                       variant.ring->run(
                           [dir](io_ring& ring) { sync_wait(ring, create_files(ring, dir)); });
                     }});
  report(std::string("create O_TMPFILE+4K+close in ") + dir, sides, files_per_burst, repetitions);
}

template <class RawBurst, class LibraryBurst>
void measure_nop(std::vector<ring_variant>& variants, const std::string& title,
                 RawBurst raw_burst, LibraryBurst library_burst, int repetitions) {
  raw_ring raw_defer(256, ring_setup_flags(true));
  raw_ring raw_no_defer(256, ring_setup_flags(false));
  std::vector<contender> sides = {
      {"raw liburing defer:1", [&](latency_sampler&) { raw_burst(raw_defer); }},
      {"raw liburing defer:0", [&](latency_sampler&) { raw_burst(raw_no_defer); }}};
  for (auto& variant : variants)
    sides.push_back({"ring " + variant.name, [&variant, &library_burst](latency_sampler&) {
                       variant.ring->run([&library_burst](io_ring& ring) {
                         sync_wait(ring, library_burst(ring));
                       });
                     }});
  report(title, sides, nops_per_burst, repetitions);
}

}  // namespace

int main(int argc, char** argv) {
  const int repetitions = argc > 1 ? std::atoi(argv[1]) : 21;
  std::vector<const char*> dirs(argv + std::min(argc, 2), argv + argc);
  if (dirs.empty()) dirs = {"/dev/shm", "/tmp"};
  auto variants = all_variants();
  measure_nop(
      variants, "NOP one at a time",
      [](raw_ring& raw) {
        for (std::size_t i = 0; i < nops_per_burst; ++i) raw.nop();
      },
      nops_one_at_a_time, repetitions);
  measure_nop(
      variants, "NOP in batches of 32 (when_all)",
      [](raw_ring& raw) {
        for (std::size_t i = 0; i < nops_per_burst / batch; ++i) raw.nop_batch(batch);
      },
      nops_in_batches, repetitions);
  for (const char* dir : dirs) measure_create(variants, dir, repetitions);
  return 0;
}
