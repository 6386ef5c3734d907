#pragma once
// What each tempfile-bench scenario measures, and why its ratio may be below 1, printed
// under the tables. A new scenario adds its entry in legend.cpp.

#include <string_view>

namespace tempfile_bench {

struct scenario_legend {
  std::string_view scenario;
  std::string_view meaning;     ///< one line: what a row compares
  std::string_view below_one;   ///< the known reason a ratio falls below 1; empty if none
};

/// The entry for `scenario`, or nullptr if it has none.
const scenario_legend* find_legend(std::string_view scenario) noexcept;

}  // namespace tempfile_bench
