#pragma once
// What tempfile-bench prints: a table per directory, or one JSON array.

#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "interleave.hpp"

namespace tempfile_bench {

/// One side of a row: its timing and how many operations (files, write calls, appends,
/// NOPs) one run made.
struct side_result {
  measurement timing;
  double ops_per_run = 0;
};

/// One measured comparison: the library beside one baseline, both moving the same bytes.
struct result_row {
  std::string scenario;             ///< create, named, seqwrite, spool, nop
  std::optional<std::string> dir;   ///< none for the ring-only nop rows
  unsigned concurrency = 1;
  std::size_t size = 0;             ///< file size (create, named) or call size
  double bytes_per_run = 0;
  bool throughput_in_bytes = false; ///< JSON throughputs: bytes/s, else ops/s
  side_result library;
  side_result baseline;
  std::string baseline_name;

  double library_throughput() const { return throughput(library); }
  double baseline_throughput() const { return throughput(baseline); }
  /// library / baseline throughput: above 1 the library is faster.
  double ratio() const { return library_throughput() / baseline_throughput(); }

 private:
  double throughput(const side_result& side) const {
    return (throughput_in_bytes ? bytes_per_run : side.ops_per_run) / side.timing.median_seconds;
  }
};

/// One table per directory (the ring-only rows in their own), in the order first seen, then
/// a line per scenario shown saying what it measures, and why a ratio below 1 is expected
/// where the reason is known.
void print_tables(std::ostream& out, const std::vector<result_row>& rows, int repetitions);
/// One JSON array, one object per row.
void print_json(std::ostream& out, const std::vector<result_row>& rows);

}  // namespace tempfile_bench
