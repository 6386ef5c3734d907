#include "scenarios.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <span>
#include <string>
#include <thread>
#include <utility>

#include <tempfile/tempfile.hpp>

#include "raw_files.hpp"
#include "raw_ring.hpp"
#include "raw_stream.hpp"
#include "thread_pool.hpp"
#include "workloads.hpp"

namespace tempfile_bench {
namespace {

using tempfile::io_ring;
using tempfile::options;
using tempfile::task;
using byte_span = std::span<const std::byte>;

// Chunk sizes the "best pwrite" baseline tries.
constexpr std::size_t pwrite_sweep[] = {4u << 10, 16u << 10, 64u << 10, 256u << 10, 1u << 20,
                                        4u << 20};
// Enough latency samples for a stable p99 without timing every sub-microsecond op.
constexpr std::size_t latency_samples_per_run = 4096;

// The synchronous baseline's threads: one per coroutine, up to this many.
constexpr unsigned max_pool_threads = 128;
// Baseline names shared by every concurrency (a plot draws one series per name).
const std::string pool_baseline = "sync calls on N threads (N = concurrency, at most 128)";
const std::string raw_baseline = "raw liburing, N files in flight";

// Keeps the spool baseline's appends observable, so they cannot be optimised away.
volatile std::byte spool_observed;

std::string size_text(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + "M";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + "K";
  return std::to_string(bytes);
}

// The part of `total` that worker `index` of `workers` takes.
std::size_t share(std::size_t total, unsigned workers, unsigned index) {
  return total / workers + (index < total % workers ? 1 : 0);
}

std::size_t calls_for(std::size_t bytes, std::size_t call_size) {
  return (bytes + call_size - 1) / call_size;
}

// Runs `make_worker(i)` for every i < workers as concurrent coroutines on one ring.
template <class MakeWorker>
void run_concurrently(io_ring& ring, unsigned workers, MakeWorker make_worker) {
  std::vector<task<void>> tasks;
  tasks.reserve(workers);
  for (unsigned i = 0; i < workers; ++i) tasks.push_back(make_worker(i));
  sync_wait(ring, tempfile::when_all(std::move(tasks)));
}

// Runs `work(i, latencies_of_i)` on every thread of `pool`, pooling their latencies.
template <class Work>
void run_on_pool(thread_pool& pool, latency_sampler& latencies, Work work) {
  std::vector<latency_sampler> samplers(pool.size(), latency_sampler(1));
  pool.run([&](unsigned i) { work(i, samplers[i]); });
  for (auto& sampler : samplers)
    latencies.samples().insert(latencies.samples().end(), sampler.samples().begin(),
                               sampler.samples().end());
}

template <class File>
task<void> sync_to_disk(io_ring& ring, File& file) {
  co_await file.flush();
  co_await tempfile::ops::fsync(ring, file.fileno());
}

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

// Calls `write(piece)` for consecutive pieces of `bytes` bytes, each at most `call_size`.
template <class Write>
void for_each_piece(std::size_t bytes, byte_span chunk, std::size_t call_size, Write write) {
  for (std::size_t done = 0; done < bytes; done += call_size)
    write(chunk.first(std::min(call_size, bytes - done)), done);
}

// Writes `bytes` bytes to `file` in calls of `chunk.size()` bytes.
template <class File>
task<void> write_in_pieces(File& file, std::size_t bytes, byte_span chunk,
                           latency_sampler& latencies) {
  for (std::size_t done = 0; done < bytes; done += chunk.size()) {
    const auto started = latencies.start();
    co_await file.write(chunk.first(std::min(chunk.size(), bytes - done)));
    latencies.finish(started);
  }
}

task<void> library_write_stream(io_ring& ring, options opts, std::size_t bytes, byte_span chunk,
                                bool fsync, latency_sampler& latencies) {
  tempfile::temporary_file file = co_await tempfile::temporary_file::create(ring, opts);
  co_await write_in_pieces(file, bytes, chunk, latencies);
  if (fsync) co_await sync_to_disk(ring, file);
  co_await file.close();
}

void sync_pwrite_stream(const std::string& dir, std::size_t bytes, byte_span chunk,
                        std::size_t call_size, bool fsync, latency_sampler& latencies) {
  const int fd = sync_open_tmpfile(dir.c_str());
  for_each_piece(bytes, chunk, call_size, [&](byte_span piece, std::size_t offset) {
    const auto started = latencies.start();
    sync_pwrite_all(fd, piece, offset);
    latencies.finish(started);
  });
  if (fsync && ::fsync(fd) != 0) throw_errno("fsync");
  if (::close(fd) != 0) throw_errno("close");
}

void sync_fwrite_stream(const std::string& dir, std::size_t bytes, byte_span chunk,
                        std::size_t call_size, bool fsync, latency_sampler& latencies) {
  FILE* stream = ::fdopen(sync_open_tmpfile(dir.c_str()), "w");
  if (!stream) throw_errno("fdopen");
  if (::setvbuf(stream, nullptr, _IOFBF, tempfile::default_buffer_size) != 0) throw_errno("setvbuf");
  for_each_piece(bytes, chunk, call_size, [&](byte_span piece, std::size_t) {
    const auto started = latencies.start();
    if (::fwrite(piece.data(), 1, piece.size(), stream) != piece.size()) throw_errno("fwrite");
    latencies.finish(started);
  });
  if (::fflush(stream) != 0) throw_errno("fflush");
  if (fsync && ::fsync(::fileno(stream)) != 0) throw_errno("fsync");
  if (::fclose(stream) != 0) throw_errno("fclose");
}

task<void> library_spool_stream(io_ring& ring, options opts, std::size_t bytes, byte_span chunk,
                                latency_sampler& latencies) {
  tempfile::spooled_temporary_file file(ring, opts);
  co_await write_in_pieces(file, bytes, chunk, latencies);
  co_await file.close();
}

void vector_spool_stream(std::size_t bytes, byte_span chunk, latency_sampler& latencies) {
  std::vector<char> memory;
  memory.reserve(bytes);
  for_each_piece(bytes, chunk, chunk.size(), [&](byte_span piece, std::size_t) {
    const auto started = latencies.start();
    const auto* text = reinterpret_cast<const char*>(piece.data());
    memory.insert(memory.end(), text, text + piece.size());
    latencies.finish(started);
  });
  spool_observed = static_cast<std::byte>(memory[memory.size() / 2]);
}

task<void> library_nops(io_ring& ring, std::size_t count, latency_sampler& latencies) {
  for (std::size_t i = 0; i < count; ++i) {
    const auto started = latencies.start();
    co_await tempfile::ops::nop(ring);
    latencies.finish(started);
  }
}

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

// The library's protocol for one directory: files go to `dir`, buffered as asked.
options file_options(const std::filesystem::path& dir) {
  options opts;
  opts.dir(dir);
  return opts;
}

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

void scenario_runner::seqwrite(const std::filesystem::path& dir, unsigned concurrency) {
  const std::string where = dir.string();
  const std::size_t call_size = config_.size;
  const std::size_t total = config_.stream_bytes;
  const byte_span chunk = byte_span(payload_);
  // Every side writes `concurrency` files of the same lengths; the baselines one by one.
  auto for_each_file = [&](auto write_file) {
    for (unsigned i = 0; i < concurrency; ++i) write_file(share(total, concurrency, i));
  };
  auto calls = [&](std::size_t size) {
    double count = 0;
    for_each_file([&](std::size_t bytes) { count += static_cast<double>(calls_for(bytes, size)); });
    return count;
  };
  auto pwrite_side = [&](std::size_t size) {
    return contender{"pwrite " + size_text(size), [&, size](latency_sampler& latencies) {
                       for_each_file([&](std::size_t bytes) {
                         sync_pwrite_stream(where, bytes, chunk, size, config_.fsync, latencies);
                       });
                     }};
  };
  std::vector<contender> sides = {
      {"temporary_file", [&](latency_sampler& latencies) {
         run_concurrently(ring_, concurrency, [&](unsigned i) {
           options opts = file_options(dir);  // the default buffer, as users get it
           return library_write_stream(ring_, std::move(opts), share(total, concurrency, i),
                                       chunk.first(call_size), config_.fsync, latencies);
         });
       }},
      {"fwrite", [&](latency_sampler& latencies) {
         for_each_file([&](std::size_t bytes) {
           sync_fwrite_stream(where, bytes, chunk, call_size, config_.fsync, latencies);
         });
       }},
      pwrite_side(call_size)};
  std::vector<std::size_t> pwrite_sizes = {call_size};
  for (std::size_t size : pwrite_sweep)
    if (size != call_size && size <= total) {
      sides.push_back(pwrite_side(size));
      pwrite_sizes.push_back(size);
    }
  // The library's design by hand: its buffer size, as many writes behind.
  constexpr auto behind = static_cast<unsigned>(tempfile::detail::background_writes::max_in_flight);
  raw_stream_writer raw(tempfile::default_buffer_size, behind, ring_.setup_flags());
  const std::string raw_name = "raw liburing, " + size_text(tempfile::default_buffer_size) +
                               " buffers, " + std::to_string(behind) + " writes behind";
  const std::size_t raw_side = sides.size();
  sides.push_back({raw_name, [&](latency_sampler& latencies) {
                     for_each_file([&](std::size_t bytes) {
                       raw.write(dir, bytes, chunk.first(call_size), latencies);
                     });
                   }});

  const auto results = measure(where + " seqwrite " + size_text(call_size), concurrency, sides,
                               calls(call_size));
  const side_result library = {results[0], calls(call_size)};
  auto add_row = [&](std::size_t side, std::size_t size, std::string name) {
    rows_.push_back({"seqwrite", where, concurrency, call_size, static_cast<double>(total), true,
                     library, {results[side], calls(size)}, std::move(name)});
  };
  add_row(2, call_size, "sync pwrite " + size_text(call_size));
  add_row(1, call_size, "stdio fwrite, " + size_text(tempfile::default_buffer_size) + " buffer");
  const auto pwrites_end = results.begin() + 2 + static_cast<std::ptrdiff_t>(pwrite_sizes.size());
  const auto fastest = std::min_element(results.begin() + 2, pwrites_end, [](auto& a, auto& b) {
    return a.median_seconds < b.median_seconds;
  });
  const auto best = static_cast<std::size_t>(fastest - results.begin());
  const std::size_t best_size = pwrite_sizes[best - 2];
  add_row(best, best_size, "best sync pwrite (" + size_text(best_size) + ")");
  add_row(raw_side, call_size, raw_name);
}

void scenario_runner::spool(const std::filesystem::path& dir, unsigned concurrency) {
  const std::string where = dir.string();
  const std::size_t total = config_.stream_bytes;
  const byte_span chunk = byte_span(payload_).first(config_.size);
  const double appends = [&] {
    double count = 0;
    for (unsigned i = 0; i < concurrency; ++i)
      count += static_cast<double>(calls_for(share(total, concurrency, i), chunk.size()));
    return count;
  }();
  const std::vector<contender> sides = {
      {"spooled_temporary_file", [&](latency_sampler& latencies) {
         run_concurrently(ring_, concurrency, [&](unsigned i) {
           const std::size_t bytes = share(total, concurrency, i);
           options opts = file_options(dir);
           opts.max_size(bytes);  // stays in memory: measures the spooling itself
           return library_spool_stream(ring_, std::move(opts), bytes, chunk, latencies);
         });
       }},
      {"std::vector", [&](latency_sampler& latencies) {
         for (unsigned i = 0; i < concurrency; ++i)
           vector_spool_stream(share(total, concurrency, i), chunk, latencies);
       }}};
  const std::string step = where + " spool " + size_text(config_.size);
  const auto results = measure(step, concurrency, sides, appends);
  rows_.push_back({"spool", where, concurrency, config_.size, static_cast<double>(total), true,
                   {results[0], appends}, {results[1], appends},
                   "std::vector<char> reserve+append"});
}

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
