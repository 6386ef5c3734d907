// tempfile-bench's nop scenario: the cost of a round trip through the ring alone.
#include <string>

#include "raw_ring.hpp"
#include "scenarios.hpp"
#include "scenarios_shared.hpp"

namespace tempfile_bench {
namespace {

task<void> library_nops(io_ring& ring, std::size_t count, latency_sampler& latencies) {
  for (std::size_t i = 0; i < count; ++i) {
    const auto started = latencies.start();
    co_await tempfile::ops::nop(ring);
    latencies.finish(started);
  }
}

}  // namespace

void scenario_runner::nop(unsigned concurrency) {
  raw_ring raw(ring_.sq_entries(), ring_.setup_flags());
  const std::size_t batches = config_.nops / concurrency;
  const double nops = static_cast<double>(batches * concurrency);
  const std::vector<contender> sides = {
      {"ops::nop", [&](latency_sampler& latencies) {
         run_concurrently(ring_, concurrency,
                          [&](unsigned) { return library_nops(ring_, batches, latencies); });
       }},
      {"raw liburing", [&](latency_sampler& latencies) {
         for (std::size_t i = 0; i < batches; ++i) {
           const auto started = latencies.start();
           if (concurrency == 1)
             raw.nop();
           else
             raw.nop_batch(concurrency);
           latencies.record_group(started, concurrency);
         }
       }}};
  const auto results = measure("nop", concurrency, sides, nops);
  rows_.push_back({"nop", std::nullopt, concurrency, 0, 0, false, {results[0], nops},
                   {results[1], nops},
                   "raw liburing, batch " + std::to_string(concurrency)});
}

}  // namespace tempfile_bench
