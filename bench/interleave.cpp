#include "interleave.hpp"

#include <time.h>

#include <algorithm>

namespace tempfile_bench {
namespace {

double percentile(std::vector<double>& values, double fraction) {
  if (values.empty()) return 0;
  const auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index),
                   values.end());
  return values[index];
}

double process_cpu_seconds() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

/// The side that runs `turn`th in repetition `rep` of `sides`: the rows of a Williams
/// square, in which every side follows every other side equally often (once per `sides`
/// repetitions, twice that for an odd count, whose square needs its rows mirrored too).
/// Merely starting each repetition one side further on keeps the cycle: every side but
/// the first would always follow the same one.
std::size_t side_in_turn(std::size_t sides, std::size_t rep, std::size_t turn) {
  const std::size_t row = rep % (sides % 2 ? 2 * sides : sides);
  if (row >= sides) turn = sides - 1 - turn;  // the mirrored rows
  // First row 0, 1, n-1, 2, n-2, ...; row r adds r to each.
  const std::size_t first = turn == 0 ? 0 : turn % 2 ? (turn + 1) / 2 : sides - turn / 2;
  return (first + row) % sides;
}

}  // namespace

void latency_sampler::record_group(token started, std::size_t count) {
  if (started == token{}) return;
  nanoseconds_.insert(nanoseconds_.end(), count, to_ns(bench_clock::now() - started));
}

std::vector<measurement> measure_interleaved(const std::vector<contender>& contenders,
                                             int repetitions, std::size_t latency_stride,
                                             const std::function<void(int)>& on_repetition) {
  std::vector<std::vector<double>> seconds(contenders.size());
  std::vector<std::vector<double>> cpu_seconds(contenders.size());
  std::vector<latency_sampler> samplers(contenders.size(), latency_sampler(latency_stride));
  // One untimed run each first: spawns io-wq workers, warms caches and lets glibc's malloc
  // settle its mmap threshold, so the first timed repetition is like the others.
  latency_sampler warm_up(latency_stride);
  for (const auto& side : contenders) side.run(warm_up);
  // No side always runs right after the same one: a side that leaves work behind (a
  // journal to checkpoint, writeback, io-wq workers to retire) then taxes each side in
  // turn, not always the next one.
  for (int rep = 0; rep < repetitions; ++rep) {
    on_repetition(rep);
    for (std::size_t turn = 0; turn < contenders.size(); ++turn) {
      const std::size_t i =
          side_in_turn(contenders.size(), static_cast<std::size_t>(rep), turn);
      const auto start = bench_clock::now();
      const double cpu_start = process_cpu_seconds();
      contenders[i].run(samplers[i]);
      cpu_seconds[i].push_back(process_cpu_seconds() - cpu_start);
      seconds[i].push_back(std::chrono::duration<double>(bench_clock::now() - start).count());
    }
  }
  std::vector<measurement> results;
  for (std::size_t i = 0; i < contenders.size(); ++i) {
    auto& times = seconds[i];
    const auto [fastest, slowest] = std::minmax_element(times.begin(), times.end());
    const double spread = *slowest - *fastest;
    const double median = percentile(times, 0.5);
    results.push_back({median, percentile(cpu_seconds[i], 0.5), median > 0 ? spread / median : 0,
                       percentile(samplers[i].samples(), 0.5),
                       percentile(samplers[i].samples(), 0.99)});
  }
  return results;
}

}  // namespace tempfile_bench
