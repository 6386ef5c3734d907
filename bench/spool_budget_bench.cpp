// 1,000 concurrent uploads spooled at once, each up to 1 MiB with max_size 1 MiB, with and
// without a shared spool_budget: peak RSS, throughput and forced rollovers. With a budget,
// once with the rolled-over files' default buffers (256 KiB each, which the budget does not
// count) and once unbuffered. Each run is a child process, so its peak RSS is its own; the
// configurations alternate.
//
// Usage: tempfile_spool_budget_bench [repetitions=5] [budget MiB=64] [dir...]
//        (default dir: gettempdir())

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tempfile/tempfile.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <span>
#include <stdexcept>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using namespace tempfile;

constexpr std::size_t MiB = 1 << 20;
constexpr std::size_t uploads = 1000;
constexpr std::size_t largest_upload = MiB;
constexpr std::size_t piece_size = 64 << 10;  // what one socket read might deliver

struct configuration {
  const char* name;
  std::optional<std::size_t> budget_bytes;
  long buffering;  // of the files spools roll over to
};

struct run_result {
  double seconds = 0;
  std::size_t bytes = 0;
  std::uint64_t rollovers = 0;   // forced by the budget
  std::size_t high_water = 0;    // the budget's
  long peak_rss_kib = 0;         // filled in by the parent
};

/// Random bytes the uploads are cut from.
std::string make_source() {
  std::mt19937_64 rng(18);
  std::string bytes(2 * largest_upload, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  return bytes;
}

/// One upload: arrives in pieces (other uploads progress in between), is read back in
/// pieces by its consumer, then closed.
task<std::size_t> upload(io_ring& ring, options opts, std::string_view contents) {
  spooled_temporary_file file(ring, std::move(opts));
  for (std::size_t at = 0; at < contents.size(); at += piece_size) {
    co_await file.write(contents.substr(at, piece_size));
    co_await ops::nop(ring);
  }
  file.seek(0);
  std::string piece(piece_size, '\0');
  std::size_t read_back = 0;
  while (true) {
    const std::size_t n = co_await file.read(std::as_writable_bytes(std::span(piece)));
    if (n == 0) break;
    read_back += n;
  }
  co_await file.close();
  if (read_back != contents.size()) throw std::runtime_error("read back a different size");
  co_return read_back;
}

run_result run_uploads(const std::string& dir, const configuration& config) {
  const std::string source = make_source();
  std::mt19937_64 rng(1000);
  std::optional<spool_budget> budget;
  if (config.budget_bytes) budget.emplace(*config.budget_bytes);
  io_ring ring;
  const auto started = std::chrono::steady_clock::now();
  std::vector<task<std::size_t>> tasks;
  tasks.reserve(uploads);
  for (std::size_t i = 0; i < uploads; ++i) {
    options opts = options().max_size(largest_upload).buffering(config.buffering).dir(dir);
    if (budget) opts.memory_budget(*budget);
    const std::size_t size = 1 + rng() % largest_upload;
    tasks.push_back(upload(ring, std::move(opts), std::string_view(source).substr(rng() % largest_upload, size)));
  }
  run_result result;
  for (std::size_t bytes : sync_wait(ring, when_all(std::move(tasks)))) result.bytes += bytes;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (budget) {
    result.rollovers = budget->rollovers();
    result.high_water = budget->high_water();
  }
  return result;
}

/// Runs one configuration in a child process; its peak RSS comes from wait4.
run_result run_in_child(const std::string& dir, const configuration& config) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  const pid_t child = ::fork();
  if (child < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (child == 0) {
    ::close(pipe_fds[0]);
    int status = 0;
    try {
      const run_result result = run_uploads(dir, config);
      if (::write(pipe_fds[1], &result, sizeof result) != sizeof result) status = 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "run failed: %s\n", e.what());
      status = 1;
    }
    ::_exit(status);
  }
  ::close(pipe_fds[1]);
  run_result result;
  const bool got = ::read(pipe_fds[0], &result, sizeof result) == sizeof result;
  ::close(pipe_fds[0]);
  int status = 0;
  struct rusage usage {};
  if (::wait4(child, &status, 0, &usage) != child || !got || status != 0)
    throw std::runtime_error("a run failed in " + dir);
  result.peak_rss_kib = usage.ru_maxrss;
  return result;
}

struct summary {
  double median;
  double spread;  // (slowest - fastest) / median
};

template <class Value>
summary summarise(const std::vector<run_result>& runs, Value value) {
  std::vector<double> values;
  for (const run_result& run : runs) values.push_back(value(run));
  std::sort(values.begin(), values.end());
  const double median = values[values.size() / 2];
  return {median, median == 0 ? 0 : (values.back() - values.front()) / median};
}

void report(const char* name, const std::vector<run_result>& runs) {
  const summary rss = summarise(runs, [](const run_result& r) { return r.peak_rss_kib / 1024.0; });
  const summary speed = summarise(runs, [](const run_result& r) { return r.bytes / r.seconds / 1e9; });
  const summary rolled = summarise(runs, [](const run_result& r) { return double(r.rollovers); });
  const summary high = summarise(runs, [](const run_result& r) { return r.high_water / double(MiB); });
  std::printf("  %-19s peak RSS %7.1f MiB (±%3.0f%%)  %6.3f GB/s (±%3.0f%%)  forced rollovers %5.0f  "
              "budget high water %5.1f MiB\n",
              name, rss.median, rss.spread * 100, speed.median, speed.spread * 100, rolled.median,
              high.median);
}

}  // namespace

int main(int argc, char** argv) {
  const int repetitions = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  const std::size_t budget = (argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 64) * MiB;
  std::vector<std::string> dirs;
  for (int i = 3; i < argc; ++i) dirs.emplace_back(argv[i]);
  if (dirs.empty()) dirs.push_back(gettempdir());

  std::printf("%zu uploads of 1 B..1 MiB (uniform), max_size 1 MiB, %zu KiB pieces; medians of %d "
              "alternating runs, ± = spread (max-min)/median\n",
              uploads, piece_size >> 10, repetitions);
  const configuration configurations[] = {{"no budget", std::nullopt, -1},
                                          {"budget", budget, -1},
                                          {"budget, unbuffered", budget, 0}};
  std::printf("budget %zu MiB\n", budget / MiB);
  for (const std::string& dir : dirs) {
    std::vector<std::vector<run_result>> runs(std::size(configurations));
    for (int r = 0; r < repetitions; ++r)
      for (std::size_t c = 0; c < std::size(configurations); ++c)
        runs[c].push_back(run_in_child(dir, configurations[c]));
    std::printf("%s\n", dir.c_str());
    for (std::size_t c = 0; c < std::size(configurations); ++c)
      report(configurations[c].name, runs[c]);
  }
}
