// tempfile-bench's scenario runner: its ring and payload, and the measuring of each step.
#include "scenarios.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "scenarios_shared.hpp"

namespace tempfile_bench {
namespace {

// Enough latency samples for a stable p99 without timing every sub-microsecond op.
constexpr std::size_t latency_samples_per_run = 4096;

}  // namespace

scenario_runner::scenario_runner(const bench_config& config,
                                 std::function<void(const std::string&)> progress)
    : config_(config),
      progress_(std::move(progress)),
      ring_(tempfile::ring_options{.max_workers = config.max_workers,
                                   .unnamed_file_reserve = config.reserve}),
      payload_(std::max(config.size, pwrite_sweep[std::size(pwrite_sweep) - 1]),
               std::byte{0x5a}) {}

std::vector<measurement> scenario_runner::measure(const std::string& step, unsigned concurrency,
                                                  const std::vector<contender>& sides,
                                                  double ops_per_run) {
  const auto stride = static_cast<std::size_t>(ops_per_run) / latency_samples_per_run + 1;
  const std::string text =
      step + ", concurrency " + std::to_string(concurrency) + ": repetition ";
  return measure_interleaved(sides, config_.repetitions, stride, [&](int rep) {
    progress_(text + std::to_string(rep + 1) + "/" + std::to_string(config_.repetitions));
  });
}

}  // namespace tempfile_bench
