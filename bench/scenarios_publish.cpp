// tempfile-bench's publish scenario: files written, synced and linked under their names.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "raw_files.hpp"
#include "scenarios.hpp"
#include "scenarios_shared.hpp"
#include "workloads.hpp"

namespace tempfile_bench {
namespace {

// Publishes `count` files durably under fresh names `prefix`N in `dir`, one after another.
task<void> library_publish_files(io_ring& ring, std::filesystem::path dir, std::string prefix,
                                 std::size_t count, byte_span payload, latency_sampler& latencies) {
  options opts;
  opts.dir(dir).durable(true);
  for (std::size_t i = 0; i < count; ++i) {
    const auto started = latencies.start();
    tempfile::temporary_file file = co_await tempfile::temporary_file::create(ring, opts);
    co_await file.write(payload);
    co_await file.link(dir / (prefix + std::to_string(i)));
    co_await file.close();
    latencies.finish(started);
  }
}

// What a synchronous program does for the same: the data synced before the name appears
// (fdatasync, as the library), the directory synced before the next file.
void sync_publish_files(const std::filesystem::path& dir, const std::string& prefix,
                        std::size_t count, byte_span payload, latency_sampler& latencies) {
  for (std::size_t i = 0; i < count; ++i) {
    const auto started = latencies.start();
    const int fd = sync_open_tmpfile(dir.c_str());
    sync_pwrite_all(fd, payload, 0);
    if (::fdatasync(fd) != 0) throw_errno("fdatasync");
    const std::string source = "/proc/self/fd/" + std::to_string(fd);
    const std::string target = (dir / (prefix + std::to_string(i))).string();
    if (::linkat(AT_FDCWD, source.c_str(), AT_FDCWD, target.c_str(), AT_SYMLINK_FOLLOW) != 0)
      throw_errno("linkat");
    const int dirfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) throw_errno("open directory");
    if (::fsync(dirfd) != 0) throw_errno("fsync directory");
    if (::close(dirfd) != 0 || ::close(fd) != 0) throw_errno("close");
    latencies.finish(started);
  }
}

}  // namespace

void scenario_runner::publish(const std::filesystem::path& dir, unsigned concurrency) {
  const byte_span payload = byte_span(payload_).first(config_.size);
  const auto files = static_cast<double>(config_.files);
  // Every run publishes under names of its own, in a directory removed after the row.
  std::string pattern = (dir / "tempfile-bench-publish-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw_errno("mkdtemp");
  const std::filesystem::path out = pattern;
  std::size_t run = 0;
  auto run_prefix = [&](const char* side) { return side + std::to_string(run++) + "-"; };
  raw_file_maker raw(concurrency, ring_.setup_flags());
  thread_pool pool(std::min(concurrency, max_pool_threads));
  std::vector<contender> sides = {
      {"library", [&](latency_sampler& latencies) {
         const std::string prefix = run_prefix("ring");
         run_concurrently(ring_, concurrency, [&](unsigned i) {
           return library_publish_files(ring_, out, prefix + std::to_string(i) + "-",
                                        share(config_.files, concurrency, i), payload, latencies);
         });
       }},
      {"sync open(O_TMPFILE)+pwrite+fdatasync+linkat+fsync(dir)+close",
       [&](latency_sampler& latencies) {
         sync_publish_files(out, run_prefix("sync"), config_.files, payload, latencies);
       }},
      {raw_baseline, [&](latency_sampler& latencies) {
         raw.publish(out, run_prefix("raw"), config_.files, payload, latencies);
       }}};
  if (concurrency > 1)
    sides.push_back({pool_baseline, [&](latency_sampler& latencies) {
                       const std::string prefix = run_prefix("pool");
                       run_on_pool(pool, latencies, [&](unsigned i, latency_sampler& own) {
                         sync_publish_files(out, prefix + std::to_string(i) + "-",
                                            share(config_.files, pool.size(), i), payload, own);
                       });
                     }});
  const std::string where = dir.string();
  std::vector<measurement> results;
  try {
    results = measure(where + " publish " + size_text(config_.size), concurrency, sides, files);
  } catch (...) {
    std::filesystem::remove_all(out);
    throw;
  }
  std::filesystem::remove_all(out);
  for (std::size_t side = 1; side < results.size(); ++side)
    rows_.push_back({"publish", where, concurrency, config_.size, files * config_.size, false,
                     {results[0], files}, {results[side], files}, sides[side].name});
}

}  // namespace tempfile_bench
