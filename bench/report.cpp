#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>
#include <string_view>
#include <utility>

#include "legend.hpp"

namespace tempfile_bench {
namespace {

std::string format(const char* pattern, double value) {
  char text[32];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::string human_count(double value) {
  if (value >= 1e6) return format("%.2fM", value / 1e6);
  if (value >= 1e3) return format("%.1fk", value / 1e3);
  return format("%.0f", value);
}

std::string human_bytes(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + "M";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + "K";
  return std::to_string(bytes);
}

std::string human_time(double ns) {
  if (ns >= 1e6) return format("%.2fms", ns / 1e6);
  if (ns >= 1e3) return format("%.1fus", ns / 1e3);
  return format("%.0fns", ns);
}

// ops/s, GB/s (when bytes move), p50, p99, spread of one side.
std::vector<std::string> side_cells(const result_row& row, const side_result& side) {
  const measurement& m = side.timing;
  const double seconds = m.median_seconds;
  return {human_count(side.ops_per_run / seconds),
          row.bytes_per_run > 0 ? format("%.3f", row.bytes_per_run / seconds / 1e9) : "-",
          human_time(m.p50_ns), human_time(m.p99_ns), format("%.0f%%", m.spread * 100)};
}

void print_table(std::ostream& out, const std::string& title,
                 const std::vector<const result_row*>& rows, int repetitions) {
  const std::vector<std::string> header = {
      "scenario", "conc", "size",  "lib ops/s", "lib GB/s", "lib p50", "lib p99", "lib ±",
      "baseline", "ops/s", "GB/s", "p50",       "p99",      "±",       "ratio"};
  std::vector<std::vector<std::string>> cells = {header};
  for (const result_row* row : rows) {
    std::vector<std::string> line = {row->scenario, std::to_string(row->concurrency),
                                     human_bytes(row->size)};
    for (auto& cell : side_cells(*row, row->library)) line.push_back(cell);
    line.push_back(row->baseline_name);
    for (auto& cell : side_cells(*row, row->baseline)) line.push_back(cell);
    line.push_back(format("%.2fx", row->ratio()));
    cells.push_back(std::move(line));
  }
  std::vector<std::size_t> widths(header.size());
  for (const auto& line : cells)
    for (std::size_t i = 0; i < line.size(); ++i) widths[i] = std::max(widths[i], line[i].size());
  out << '\n' << title << "  (medians of " << repetitions
      << " alternating repetitions; ± is the spread slowest-fastest over the median; "
         "ratio = library/baseline throughput)\n";
  for (const auto& line : cells) {
    for (std::size_t i = 0; i < line.size(); ++i) {
      // Text columns to the left, figures to the right.
      const bool text = i == 0 || i == 8;
      out << (text ? std::left : std::right) << std::setw(static_cast<int>(widths[i]))
          << line[i] << (i + 1 < line.size() ? "  " : "\n");
    }
  }
}

std::string json_string(const std::string& text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      quoted += format("\\u%04x", static_cast<unsigned char>(c));
    } else {
      quoted += c;
    }
  }
  return quoted + '"';
}

// Under the tables: what each scenario shown measures, then, for each scenario with a row
// below 1 and a known reason, why.
void print_legend(std::ostream& out, const std::vector<result_row>& rows) {
  std::vector<const scenario_legend*> shown;
  for (const auto& row : rows) {
    const scenario_legend* legend = find_legend(row.scenario);
    if (legend && std::find(shown.begin(), shown.end(), legend) == shown.end())
      shown.push_back(legend);
  }
  if (shown.empty()) return;
  std::size_t width = 0;
  for (const scenario_legend* legend : shown) width = std::max(width, legend->scenario.size());
  out << '\n';
  for (const scenario_legend* legend : shown)
    out << std::left << std::setw(static_cast<int>(width)) << legend->scenario << "  "
        << legend->meaning << '\n';
  // Scenarios sharing a reason share its line.
  std::vector<std::pair<std::string_view, std::string>> reasons;  // reason, scenario names
  for (const scenario_legend* legend : shown) {
    const bool below = std::any_of(rows.begin(), rows.end(), [&](const result_row& row) {
      return row.scenario == legend->scenario && row.ratio() < 1;
    });
    if (!below || legend->below_one.empty()) continue;
    const auto same = std::find_if(reasons.begin(), reasons.end(),
                                   [&](const auto& r) { return r.first == legend->below_one; });
    if (same == reasons.end())
      reasons.emplace_back(legend->below_one, legend->scenario);
    else
      same->second += ", " + std::string(legend->scenario);
  }
  for (const auto& [reason, names] : reasons) out << "why " << names << " < 1x: " << reason << '\n';
}

}  // namespace

void print_tables(std::ostream& out, const std::vector<result_row>& rows, int repetitions) {
  std::vector<std::optional<std::string>> groups;
  for (const auto& row : rows)
    if (std::find(groups.begin(), groups.end(), row.dir) == groups.end())
      groups.push_back(row.dir);
  for (const auto& group : groups) {
    std::vector<const result_row*> members;
    for (const auto& row : rows)
      if (row.dir == group) members.push_back(&row);
    print_table(out, group ? "directory " + *group : "ring (no directory)", members, repetitions);
  }
  print_legend(out, rows);
}

void print_json(std::ostream& out, const std::vector<result_row>& rows) {
  out << "[";
  const char* separator = "\n";
  for (const auto& row : rows) {
    std::ostringstream object;
    object << std::setprecision(6) << "{\"scenario\": " << json_string(row.scenario)
           << ", \"dir\": " << (row.dir ? json_string(*row.dir) : "null")
           << ", \"concurrency\": " << row.concurrency << ", \"size\": " << row.size
           << ", \"library\": " << row.library_throughput()
           << ", \"baseline\": " << row.baseline_throughput()
           << ", \"baseline_name\": " << json_string(row.baseline_name)
           << ", \"ratio\": " << row.ratio() << "}";
    out << separator << "  " << object.str();
    separator = ",\n";
  }
  out << "\n]\n";
}

}  // namespace tempfile_bench
