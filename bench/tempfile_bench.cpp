// tempfile-bench: measures a storage path through the library beside the synchronous libc
// code doing the same work, alternating repetitions, and prints the ratios.

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <tempfile/tempdir.hpp>

#include "report.hpp"
#include "scenarios.hpp"

namespace {

using tempfile_bench::bench_config;

constexpr unsigned max_concurrency = 256;  // the ring's SQ size: a raw NOP batch must fit
constexpr std::size_t max_reserve = 1024;  // descriptors held per directory

constexpr std::string_view usage = R"(usage: tempfile-bench [options]

Creates, writes and spools temporary files through the library and through synchronous
libc calls, alternating repetitions, and prints throughput, latency and their ratio.

  --dir PATH          directory to measure (repeatable; default: gettempdir())
  --scenario NAME     create, named, seqwrite, spool, nop or publish (repeatable;
                      default: all but publish)
  --size BYTES        file size for create/named, call size for seqwrite/spool (default 4K)
  --files N           files per create/named run, and 500 NOPs per file per nop run
                      (default 2000; --quick: 100)
  --stream BYTES      bytes per seqwrite/spool run (default 64M; --quick: 8M)
  --concurrency N     coroutines sharing the work on one ring (repeatable, 1..256;
                      default: 1 and 16)
  --repetitions N     alternating repetitions per row; medians are reported (default 5;
                      --quick: 3)
  --fsync             fsync every file before closing it
  --max-workers N     the ring's io-wq worker cap (ring_options::max_workers; default 0,
                      the library default)
  --reserve N         the ring keeps N O_TMPFILE files per directory opened ahead
                      (ring_options::unnamed_file_reserve; default 0, the library default)
  --cpu N             run on CPU N only (library and baselines alike): on a mostly idle
                      machine a thread that migrates between CPUs pays a wake-up of an
                      idle CPU on many io-wq hand-offs (see bench/README.md)
  --json              print one JSON array on stdout instead of the tables
  --quick             small runs: every scenario finishes in seconds
  --help              this text
BYTES take a K, M or G suffix (powers of 1024).
)";

std::size_t parse_count(std::string_view flag, const std::string& text) {
  std::size_t end = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &end);
  } catch (const std::exception&) {
    end = 0;
  }
  if (end == 0 || text[0] == '-')
    throw std::invalid_argument(std::string(flag) + ": not a number: " + text);
  std::string_view suffix = std::string_view(text).substr(end);
  unsigned shift = 0;
  if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  else if (!suffix.empty())
    throw std::invalid_argument(std::string(flag) + ": unknown suffix: " + text);
  return static_cast<std::size_t>(value) << shift;
}

struct command_line {
  bench_config config;
  std::optional<int> cpu;
  bool json = false;
  bool help = false;
};

command_line parse(int argc, char** argv) {
  command_line parsed;
  bench_config& config = parsed.config;
  const auto& all = tempfile_bench::all_scenarios;
  bool quick = false;
  bool files_given = false, stream_given = false, repetitions_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(std::string(flag) + " needs a value");
      return argv[++i];
    };
    auto positive = [&] {
      const std::size_t n = parse_count(flag, value());
      if (n == 0) throw std::invalid_argument(std::string(flag) + " must be positive");
      return n;
    };
    if (flag == "--dir") config.dirs.emplace_back(value());
    else if (flag == "--scenario") {
      std::string name = value();
      const auto& opt_in = tempfile_bench::opt_in_scenarios;
      if (std::find(all.begin(), all.end(), name) == all.end() &&
          std::find(opt_in.begin(), opt_in.end(), name) == opt_in.end())
        throw std::invalid_argument("--scenario: unknown scenario: " + name);
      config.scenarios.push_back(std::move(name));
    }
    else if (flag == "--size") config.size = positive();
    else if (flag == "--files") config.files = positive(), files_given = true;
    else if (flag == "--stream") config.stream_bytes = positive(), stream_given = true;
    else if (flag == "--repetitions")
      config.repetitions = static_cast<int>(positive()), repetitions_given = true;
    else if (flag == "--concurrency") {
      const std::size_t n = positive();
      if (n > max_concurrency)
        throw std::invalid_argument("--concurrency: at most " + std::to_string(max_concurrency));
      config.concurrencies.push_back(static_cast<unsigned>(n));
    } else if (flag == "--fsync") config.fsync = true;
    else if (flag == "--max-workers")
      config.max_workers = static_cast<unsigned>(parse_count(flag, value()));
    else if (flag == "--reserve") {
      const std::size_t n = parse_count(flag, value());
      if (n > max_reserve)
        throw std::invalid_argument("--reserve: at most " + std::to_string(max_reserve));
      config.reserve = static_cast<unsigned>(n);
    }
    else if (flag == "--cpu") {
      const std::size_t cpu = parse_count(flag, value());
      if (cpu >= CPU_SETSIZE) throw std::invalid_argument("--cpu: no such CPU");
      parsed.cpu = static_cast<int>(cpu);
    }
    else if (flag == "--json") parsed.json = true;
    else if (flag == "--quick") quick = true;
    else if (flag == "--help" || flag == "-h") parsed.help = true;
    else throw std::invalid_argument("unknown option: " + std::string(flag));
  }
  if (quick) {
    if (!files_given) config.files = 100;
    if (!stream_given) config.stream_bytes = 8u << 20;
    if (!repetitions_given) config.repetitions = 3;
  }
  config.nops = config.files * 500;
  if (config.dirs.empty()) config.dirs.push_back(tempfile::gettempdir());
  if (config.concurrencies.empty()) config.concurrencies = {1, 16};
  if (config.scenarios.empty()) config.scenarios = all;
  return parsed;
}

// One status line on stderr, rewritten in place; nothing unless stderr is a terminal (in a
// log, the rewrites would only pile up).
class progress_line {
 public:
  void show(const std::string& text) {
    if (!on_terminal_) return;
    std::cerr << '\r' << text;
    if (text.size() < width_) std::cerr << std::string(width_ - text.size(), ' ');
    width_ = text.size();
    std::cerr << std::flush;
  }
  void clear() {
    if (!on_terminal_) return;
    std::cerr << '\r' << std::string(width_, ' ') << '\r' << std::flush;
    width_ = 0;
  }

 private:
  bool on_terminal_ = ::isatty(STDERR_FILENO) == 1;
  std::size_t width_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  command_line parsed;
  try {
    parsed = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "tempfile-bench: " << e.what() << "\n\n" << usage;
    return 2;
  }
  if (parsed.help) {
    std::cout << usage;
    return 0;
  }
  if (parsed.cpu) {
    cpu_set_t only;
    CPU_ZERO(&only);
    CPU_SET(*parsed.cpu, &only);
    if (::sched_setaffinity(0, sizeof only, &only) != 0) {
      std::cerr << "tempfile-bench: --cpu " << *parsed.cpu << ": " << std::strerror(errno) << '\n';
      return 2;
    }
  }
  const bench_config& config = parsed.config;
  progress_line progress;
  try {
    tempfile_bench::scenario_runner runner(config, [&](const std::string& step) {
      progress.show("tempfile-bench: " + step);
    });
    auto wanted = [&](const char* scenario) {
      return std::find(config.scenarios.begin(), config.scenarios.end(), scenario) !=
             config.scenarios.end();
    };
    for (const auto& dir : config.dirs)
      for (unsigned concurrency : config.concurrencies) {
        if (wanted("create")) runner.create(dir, concurrency);
        if (wanted("named")) runner.named(dir, concurrency);
        if (wanted("seqwrite")) runner.seqwrite(dir, concurrency);
        if (wanted("spool")) runner.spool(dir, concurrency);
        if (wanted("publish")) runner.publish(dir, concurrency);
      }
    if (wanted("nop"))
      for (unsigned concurrency : config.concurrencies) runner.nop(concurrency);
    progress.clear();
    if (parsed.json)
      tempfile_bench::print_json(std::cout, runner.rows());
    else
      tempfile_bench::print_tables(std::cout, runner.rows(), config.repetitions);
  } catch (const std::exception& e) {
    progress.clear();
    std::cerr << "tempfile-bench: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
