#pragma once
// tempfile-bench --plot: throughput against concurrency as a standalone SVG, one panel per
// scenario and directory, a line for the library and one for each baseline.

#include <ostream>
#include <vector>

#include "report.hpp"

namespace tempfile_bench {

/// Writes the SVG for the rows counted in files per second (create, named, publish); rows
/// of other scenarios are left out. Every series is a `<g class="series">` whose
/// `data-series` attribute is its name ("library" or the baseline's name).
void write_plot(std::ostream& out, const std::vector<result_row>& rows);

}  // namespace tempfile_bench
