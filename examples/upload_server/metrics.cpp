#include "metrics.hpp"

#include <tempfile/io_ring.hpp>
#include <tempfile/spool_budget.hpp>

#include <cinttypes>
#include <cstdio>

namespace upload_server {

void ring_counters::copy_from(const tempfile::io_ring& ring) {
  const auto& stats = ring.stats();
  enters.store(stats.enters, std::memory_order_relaxed);
  submitted.store(stats.submitted, std::memory_order_relaxed);
  completed.store(stats.completed, std::memory_order_relaxed);
  backlogged.store(stats.backlogged, std::memory_order_relaxed);
}

namespace {

/// Appends one metric: its HELP and TYPE lines, then `samples` (lines without the name).
class exposition {
 public:
  void family(const char* name, const char* type, const char* help) {
    name_ = name;
    text_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(std::uint64_t value, const std::string& labels = std::string()) {
    char number[24];
    std::snprintf(number, sizeof number, "%" PRIu64, value);
    text_ += name_ + (labels.empty() ? "" : "{" + labels + "}") + " " + number + "\n";
  }
  std::string take() { return std::move(text_); }

 private:
  std::string name_;
  std::string text_;
};

std::uint64_t read(const std::atomic<std::uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}
std::uint64_t read(const std::atomic<std::int64_t>& gauge) {
  const std::int64_t value = gauge.load(std::memory_order_relaxed);
  return value < 0 ? 0 : static_cast<std::uint64_t>(value);
}

}  // namespace

std::string metrics::render() const {
  exposition out;
  out.family("upload_server_uploads_stored_total", "counter", "Uploads published.");
  out.sample(read(uploads_stored));
  out.family("upload_server_stored_bytes_total", "counter", "Body bytes of published uploads.");
  out.sample(read(bytes_stored));
  out.family("upload_server_responses_total", "counter", "Responses sent, by status code.");
  for (std::size_t status = 0; status < responses.size(); ++status)
    if (const std::uint64_t n = read(responses[status]); n != 0)
      out.sample(n, "code=\"" + std::to_string(status) + "\"");
  out.family("upload_server_connections_open", "gauge", "Client connections open.");
  out.sample(read(connections_open));
  out.family("upload_server_uploads_in_flight", "gauge", "Bodies being received or published.");
  out.sample(read(uploads_in_flight));
  out.family("upload_server_connections_timed_out_total", "counter",
             "Connections closed by a header, idle, body or write timeout.");
  out.sample(read(connections_timed_out));
  out.family("upload_server_accept_backoffs_total", "counter",
             "Pauses of the accept loop for want of descriptors or memory.");
  out.sample(read(accept_backoffs));
  if (budget) {
    out.family("upload_server_spool_memory_limit_bytes", "gauge", "The spool budget (--max-memory).");
    out.sample(budget->limit());
    out.family("upload_server_spool_memory_used_bytes", "gauge", "Memory spooled uploads hold.");
    out.sample(budget->used());
    out.family("upload_server_spool_memory_high_water_bytes", "gauge", "Most memory ever held.");
    out.sample(budget->high_water());
    out.family("upload_server_spool_rollovers_total", "counter",
               "Uploads moved to disk because the budget was full.");
    out.sample(budget->rollovers());
    const struct {
      const char* name;
      const char* help;
      std::atomic<std::uint64_t> ring_counters::*field;
    } ring_families[] = {
        {"upload_server_ring_enters_total", "io_uring_enter calls.", &ring_counters::enters},
        {"upload_server_ring_submitted_total", "Requests submitted.", &ring_counters::submitted},
        {"upload_server_ring_completed_total", "Completions reaped.", &ring_counters::completed},
        {"upload_server_ring_backlogged_total", "Requests that waited for a ring slot.",
         &ring_counters::backlogged},
    };
    for (const auto& f : ring_families) {
      out.family(f.name, "counter", f.help);
      for (unsigned shard = 0; shard < shard_count; ++shard)
        out.sample(read(rings[shard].*f.field), "shard=\"" + std::to_string(shard) + "\"");
    }
  }
  return out.take();
}

}  // namespace upload_server
