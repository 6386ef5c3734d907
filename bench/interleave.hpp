#pragma once
// Side-by-side timing: contenders run alternately, repetition by repetition, so that drift
// on a shared machine hits all of them alike; medians are reported.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tempfile_bench {

using bench_clock = std::chrono::steady_clock;

/// Records the latency of every `stride`-th operation (reading the clock around every one
/// would add its cost to sub-microsecond operations). Coroutines interleave, so each keeps
/// its own start token.
class latency_sampler {
 public:
  using token = bench_clock::time_point;

  explicit latency_sampler(std::size_t stride) : stride_(stride == 0 ? 1 : stride) {}

  /// Call when an operation starts; pass the result to `finish`.
  token start() noexcept { return count_++ % stride_ == 0 ? bench_clock::now() : token{}; }
  void finish(token started) {
    if (started != token{}) nanoseconds_.push_back(to_ns(bench_clock::now() - started));
  }
  /// For operations timed as a group (a raw batch): `count` operations, each `ns` long.
  void record_group(token started, std::size_t count);

  std::vector<double>& samples() noexcept { return nanoseconds_; }

 private:
  static double to_ns(bench_clock::duration d) {
    return std::chrono::duration<double, std::nano>(d).count();
  }
  std::size_t stride_;
  std::size_t count_ = 0;
  std::vector<double> nanoseconds_;
};

/// One side of a comparison: runs the whole workload once per call.
struct contender {
  std::string name;
  std::function<void(latency_sampler&)> run;
};

struct measurement {
  double median_seconds = 0;
  /// CPU time of the whole process, io-wq workers included: unlike wall time, barely
  /// moved by other processes competing for the CPUs.
  double median_cpu_seconds = 0;
  double spread = 0;  ///< (slowest - fastest) / median over the repetitions
  double p50_ns = 0;
  double p99_ns = 0;
};

/// Runs every contender once untimed, then once per repetition, in turn, `repetitions`
/// times, in orders where each contender follows every other equally often;
/// `on_repetition` is told the repetition about to run (for progress output).
std::vector<measurement> measure_interleaved(const std::vector<contender>& contenders,
                                             int repetitions, std::size_t latency_stride,
                                             const std::function<void(int)>& on_repetition);

}  // namespace tempfile_bench
