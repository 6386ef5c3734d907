#pragma once
// tempfile-bench's scenarios: each measures the library beside its baselines and appends
// the rows.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <tempfile/io_ring.hpp>

#include "report.hpp"

namespace tempfile_bench {

/// Scenario names, in the order they run.
inline const std::vector<std::string> all_scenarios = {"create", "named", "seqwrite", "spool",
                                                       "nop"};
/// Scenarios run only when asked for: the baselines wait on the disk for every file.
inline const std::vector<std::string> opt_in_scenarios = {"publish"};

struct bench_config {
  std::vector<std::string> scenarios;      ///< which of all_scenarios to run
  std::vector<std::filesystem::path> dirs;
  std::vector<unsigned> concurrencies;
  std::size_t size = 4096;                 ///< file size; call size of seqwrite and spool
  std::size_t files = 2000;                ///< files per create/named run
  std::size_t stream_bytes = 64u << 20;    ///< bytes per seqwrite/spool run
  std::size_t nops = 1000000;              ///< NOPs per nop run
  bool fsync = false;
  unsigned reserve = 0;                    ///< the ring's unnamed_file_reserve
  unsigned max_workers = 0;                ///< the ring's max_workers (0: library default)
  int repetitions = 5;
};

/// Runs the scenarios on one ring; `progress` gets a one-line description of each step.
class scenario_runner {
 public:
  scenario_runner(const bench_config& config, std::function<void(const std::string&)> progress);

  void create(const std::filesystem::path& dir, unsigned concurrency);
  void named(const std::filesystem::path& dir, unsigned concurrency);
  void seqwrite(const std::filesystem::path& dir, unsigned concurrency);
  void spool(const std::filesystem::path& dir, unsigned concurrency);
  void nop(unsigned concurrency);
  /// Durable publishing: create, write, link under a fresh name with `durable`, close;
  /// beside the synchronous sequence on one thread and on `concurrency` threads.
  void publish(const std::filesystem::path& dir, unsigned concurrency);

  const std::vector<result_row>& rows() const noexcept { return rows_; }

 private:
  // create and named: files of `size` bytes made one after another by each coroutine.
  template <class File, class SyncFiles>
  void file_scenario(const std::string& scenario, const std::filesystem::path& dir,
                     unsigned concurrency, SyncFiles sync_files, const std::string& baseline_name);
  std::vector<measurement> measure(const std::string& step, unsigned concurrency,
                                   const std::vector<contender>& sides, double ops_per_run);

  const bench_config& config_;
  std::function<void(const std::string&)> progress_;
  tempfile::io_ring ring_;
  std::vector<std::byte> payload_;
  std::vector<result_row> rows_;
};

}  // namespace tempfile_bench
