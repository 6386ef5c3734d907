#pragma once
// What GET /metrics reports, in Prometheus' text format. Every shard counts into one
// `metrics` (relaxed atomics: each figure is exact, a scrape is not one instant).

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace tempfile {
class io_ring;
class spool_budget;
}  // namespace tempfile

namespace upload_server {

/// A shard's ring counters, copied from its own thread after each request it answers.
struct ring_counters {
  std::atomic<std::uint64_t> enters{0}, submitted{0}, completed{0}, backlogged{0};
  void copy_from(const tempfile::io_ring& ring);
};

struct metrics {
  explicit metrics(unsigned shards) : rings(new ring_counters[shards]), shard_count(shards) {}

  std::atomic<std::uint64_t> uploads_stored{0};
  std::atomic<std::uint64_t> bytes_stored{0};
  std::atomic<std::int64_t> connections_open{0};
  std::atomic<std::int64_t> uploads_in_flight{0};
  std::atomic<std::uint64_t> connections_timed_out{0};
  std::atomic<std::uint64_t> accept_backoffs{0};  // accept failed for want of resources
  std::array<std::atomic<std::uint64_t>, 600> responses{};  // by status code
  std::unique_ptr<ring_counters[]> rings;          // one per shard, library storage only
  const unsigned shard_count;
  const tempfile::spool_budget* budget = nullptr;  // library storage only

  void count_response(unsigned status) {
    if (status < responses.size()) responses[status].fetch_add(1, std::memory_order_relaxed);
  }
  /// The exposition text.
  std::string render() const;
};

/// Adds one to `gauge` for this object's lifetime.
class gauge_hold {
 public:
  explicit gauge_hold(std::atomic<std::int64_t>& gauge) : gauge_(gauge) { ++gauge_; }
  ~gauge_hold() { --gauge_; }
  gauge_hold(const gauge_hold&) = delete;
  gauge_hold& operator=(const gauge_hold&) = delete;

 private:
  std::atomic<std::int64_t>& gauge_;
};

}  // namespace upload_server
