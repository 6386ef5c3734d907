// tempfile-bench's seqwrite and spool scenarios: one long stream of writes per file.
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>

#include "raw_stream.hpp"
#include "scenarios.hpp"
#include "scenarios_shared.hpp"
#include "workloads.hpp"

namespace tempfile_bench {
namespace {

// Keeps the spool baseline's appends observable, so they cannot be optimised away.
volatile std::byte spool_observed;

std::size_t calls_for(std::size_t bytes, std::size_t call_size) {
  return (bytes + call_size - 1) / call_size;
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

}  // namespace

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

}  // namespace tempfile_bench
