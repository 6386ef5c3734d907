#include "plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <utility>

namespace tempfile_bench {
namespace {

constexpr int panel_width = 540;
constexpr int panel_height = 360;
constexpr int columns = 2;
constexpr int left = 72, right = 20, top = 44, bottom = 128;  // bottom: axis label, legend
constexpr const char* colours[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

std::string number(double value, const char* pattern = "%.1f") {
  char text[32];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::string escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string rate_text(double value) {
  if (value >= 1e6) return number(value / 1e6, "%gM");
  if (value >= 1e3) return number(value / 1e3, "%gk");
  return number(value, "%g");
}

// A round step (1, 2 or 5 times a power of ten) giving at most five ticks up to `top`.
double tick_step(double top_value) {
  const double raw = top_value / 5;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) return m * power;
  return 10 * power;
}

struct series {
  std::string name;
  std::map<unsigned, double> points;  // concurrency -> files/s
};

struct panel {
  std::string scenario;
  std::string dir;
  std::size_t size = 0;
  std::vector<series> lines;  // the library first

  series& line(const std::string& name) {
    auto found = std::find_if(lines.begin(), lines.end(),
                              [&](const series& s) { return s.name == name; });
    if (found != lines.end()) return *found;
    lines.push_back({name, {}});
    return lines.back();
  }
};

void draw_panel(std::ostream& out, const panel& p, int x0, int y0,
                const std::vector<unsigned>& concurrencies) {
  const int width = panel_width - left - right;
  const int height = panel_height - top - bottom;
  double highest = 0;
  for (const auto& s : p.lines)
    for (const auto& [conc, rate] : s.points) highest = std::max(highest, rate);
  const double step = tick_step(highest > 0 ? highest : 1);
  const double y_top = std::ceil(highest / step) * step;
  auto x_of = [&](unsigned conc) {
    const auto at = std::find(concurrencies.begin(), concurrencies.end(), conc);
    const auto slots = std::max<std::size_t>(concurrencies.size() - 1, 1);
    return left + static_cast<double>(at - concurrencies.begin()) * width / slots;
  };
  auto y_of = [&](double rate) { return top + height - rate / y_top * height; };

  out << "<g class=\"panel\" data-scenario=\"" << escaped(p.scenario) << "\" data-dir=\""
      << escaped(p.dir) << "\" transform=\"translate(" << x0 << ',' << y0 << ")\">\n";
  out << "<rect x=\"0.5\" y=\"0.5\" width=\"" << panel_width - 1 << "\" height=\""
      << panel_height - 1 << "\" fill=\"white\" stroke=\"#ccc\"/>\n";
  out << "<text x=\"" << panel_width / 2 << "\" y=\"24\" text-anchor=\"middle\" "
      << "font-weight=\"bold\">" << escaped(p.scenario) << ' ' << p.size / 1024 << " KiB files, "
      << escaped(p.dir) << "</text>\n";
  for (double tick = 0; tick <= y_top + step / 2; tick += step) {
    const std::string y = number(y_of(tick));
    out << "<line x1=\"" << left << "\" x2=\"" << left + width << "\" y1=\"" << y << "\" y2=\""
        << y << "\" stroke=\"#eee\"/>\n<text x=\"" << left - 6 << "\" y=\"" << y
        << "\" dy=\"4\" text-anchor=\"end\">" << rate_text(tick) << "</text>\n";
  }
  for (unsigned conc : concurrencies)
    out << "<text x=\"" << number(x_of(conc)) << "\" y=\"" << top + height + 16
        << "\" text-anchor=\"middle\">" << conc << "</text>\n";
  out << "<line x1=\"" << left << "\" x2=\"" << left << "\" y1=\"" << top << "\" y2=\""
      << top + height << "\" stroke=\"#444\"/>\n<line x1=\"" << left << "\" x2=\""
      << left + width << "\" y1=\"" << top + height << "\" y2=\"" << top + height
      << "\" stroke=\"#444\"/>\n";
  out << "<text x=\"" << left + width / 2 << "\" y=\"" << top + height + 34
      << "\" text-anchor=\"middle\">files in flight (concurrency)</text>\n";
  out << "<text transform=\"translate(16," << top + height / 2
      << ") rotate(-90)\" text-anchor=\"middle\">files/s</text>\n";
  for (std::size_t i = 0; i < p.lines.size(); ++i) {
    const series& s = p.lines[i];
    const char* colour = colours[i % std::size(colours)];
    out << "<g class=\"series\" data-series=\"" << escaped(s.name) << "\" stroke=\"" << colour
        << "\" fill=\"" << colour << "\">\n<title>" << escaped(s.name) << "</title>\n";
    out << "<polyline fill=\"none\" stroke-width=\"2\" points=\"";
    for (const auto& [conc, rate] : s.points)
      out << number(x_of(conc)) << ',' << number(y_of(rate)) << ' ';
    out << "\"/>\n";
    for (const auto& [conc, rate] : s.points)
      out << "<circle cx=\"" << number(x_of(conc)) << "\" cy=\"" << number(y_of(rate))
          << "\" r=\"3\"><title>" << escaped(s.name) << ", " << conc << " in flight: "
          << rate_text(std::round(rate)) << " files/s</title></circle>\n";
    const int legend_y = top + height + 54 + static_cast<int>(i) * 16;
    out << "<rect x=\"" << left << "\" y=\"" << legend_y - 9 << "\" width=\"14\" height=\"4\"/>"
        << "<text x=\"" << left + 20 << "\" y=\"" << legend_y << "\" stroke=\"none\" "
        << "fill=\"#222\">" << escaped(s.name) << "</text>\n</g>\n";
  }
  out << "</g>\n";
}

}  // namespace

void write_plot(std::ostream& out, const std::vector<result_row>& rows) {
  std::vector<panel> panels;
  std::vector<unsigned> concurrencies;
  for (const auto& row : rows) {
    if (!row.dir || row.throughput_in_bytes) continue;
    auto found = std::find_if(panels.begin(), panels.end(), [&](const panel& p) {
      return p.scenario == row.scenario && p.dir == *row.dir;
    });
    if (found == panels.end()) {
      panels.push_back({row.scenario, *row.dir, row.size, {}});
      found = std::prev(panels.end());
    }
    found->line("library").points[row.concurrency] = row.library_throughput();
    found->line(row.baseline_name).points[row.concurrency] = row.baseline_throughput();
    if (std::find(concurrencies.begin(), concurrencies.end(), row.concurrency) ==
        concurrencies.end())
      concurrencies.push_back(row.concurrency);
  }
  std::sort(concurrencies.begin(), concurrencies.end());
  const int across = std::min<int>(columns, std::max<int>(static_cast<int>(panels.size()), 1));
  const int down = (static_cast<int>(panels.size()) + columns - 1) / columns;
  const int width = across * panel_width, height = std::max(down, 1) * panel_height;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\""
      << height << "\" viewBox=\"0 0 " << width << ' ' << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<title>tempfile-bench: throughput against concurrency</title>\n";
  for (std::size_t i = 0; i < panels.size(); ++i)
    draw_panel(out, panels[i], static_cast<int>(i % columns) * panel_width,
               static_cast<int>(i / columns) * panel_height, concurrencies);
  out << "</svg>\n";
}

}  // namespace tempfile_bench
