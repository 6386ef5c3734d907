// tempfile-bench's create and named scenarios: whole files made one after another.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "raw_files.hpp"
#include "scenarios.hpp"
#include "scenarios_shared.hpp"
#include "workloads.hpp"

namespace tempfile_bench {
namespace {

template <class File>
task<void> library_create_files(io_ring& ring, options opts, std::size_t count, byte_span payload,
                                bool fsync, latency_sampler& latencies) {
  for (std::size_t i = 0; i < count; ++i) {
    const auto started = latencies.start();
    File file = co_await File::create(ring, opts);
    co_await file.write(payload);
    if (fsync) co_await sync_to_disk(ring, file);
    co_await file.close();
    latencies.finish(started);
  }
}

void sync_create_files(const std::string& dir, std::size_t count, byte_span payload, bool fsync,
                       latency_sampler& latencies) {
  for (std::size_t i = 0; i < count; ++i) {
    const auto started = latencies.start();
    sync_create_tmpfile(AT_FDCWD, dir.c_str(), payload, fsync);
    latencies.finish(started);
  }
}

void sync_named_files(const std::string& dir, std::size_t count, byte_span payload, bool fsync,
                      latency_sampler& latencies) {
  const std::string pattern = dir + "/tmpXXXXXX";
  std::string name;
  for (std::size_t i = 0; i < count; ++i) {
    const auto started = latencies.start();
    name = pattern;
    const int fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0) throw_errno("mkostemp");
    sync_pwrite_all(fd, payload, 0);
    if (fsync && ::fsync(fd) != 0) throw_errno("fsync");
    if (::unlink(name.c_str()) != 0) throw_errno("unlink");
    if (::close(fd) != 0) throw_errno("close");
    latencies.finish(started);
  }
}

}  // namespace

template <class File, class SyncFiles>
void scenario_runner::file_scenario(const std::string& scenario, const std::filesystem::path& dir,
                                    unsigned concurrency, SyncFiles sync_files,
                                    const std::string& baseline_name, raw_files raw_files) {
  const std::string where = dir.string();
  const byte_span payload = byte_span(payload_).first(config_.size);
  const auto files = static_cast<double>(config_.files);
  raw_file_maker raw(concurrency, ring_.setup_flags());
  thread_pool pool(std::min(concurrency, max_pool_threads));
  std::vector<contender> sides = {
      {"library", [&](latency_sampler& latencies) {
         run_concurrently(ring_, concurrency, [&](unsigned i) {
           return library_create_files<File>(ring_, file_options(dir),
                                             share(config_.files, concurrency, i), payload,
                                             config_.fsync, latencies);
         });
       }},
      {baseline_name, [&](latency_sampler& latencies) {
         sync_files(where, config_.files, payload, config_.fsync, latencies);
       }},
      {raw_baseline, [&](latency_sampler& latencies) {
         (raw.*raw_files)(dir, config_.files, payload, config_.fsync, latencies);
       }}};
  if (concurrency > 1)
    sides.push_back({pool_baseline, [&](latency_sampler& latencies) {
                       run_on_pool(pool, latencies, [&](unsigned i, latency_sampler& own) {
                         sync_files(where, share(config_.files, pool.size(), i), payload,
                                    config_.fsync, own);
                       });
                     }});
  const std::string step = where + " " + scenario + " " + size_text(config_.size);
  const auto results = measure(step, concurrency, sides, files);
  for (std::size_t side = 1; side < results.size(); ++side)
    rows_.push_back({scenario, where, concurrency, config_.size, files * config_.size, false,
                     {results[0], files}, {results[side], files}, sides[side].name});
}

void scenario_runner::create(const std::filesystem::path& dir, unsigned concurrency) {
  file_scenario<tempfile::temporary_file>("create", dir, concurrency, sync_create_files,
                                          "sync open(O_TMPFILE)+pwrite+close", &raw_file_maker::create);
}

void scenario_runner::named(const std::filesystem::path& dir, unsigned concurrency) {
  file_scenario<tempfile::named_temporary_file>("named", dir, concurrency, sync_named_files,
                                                "sync mkstemp+pwrite+unlink+close", &raw_file_maker::named);
}

}  // namespace tempfile_bench
