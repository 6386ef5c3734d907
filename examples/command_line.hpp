#pragma once
// The examples' command line: `--name value` options and `--help`. A bad command line ends the
// program with one line on stderr and status 2; an exception from the program itself, with
// one line and status 1.

#include <charconv>
#include <cstdio>
#include <exception>
#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

namespace example {

/// One `--name value` option and what to do with its value (throw std::invalid_argument to
/// reject it).
struct option {
  std::string_view name;
  std::function<void(std::string_view)> set;
};

/// Stores a non-negative integer given in decimal.
template <class Number>
std::function<void(std::string_view)> number(Number& target) {
  return [&target](std::string_view text) {
    Number value{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size())
      throw std::invalid_argument("not a non-negative integer: '" + std::string(text) + "'");
    target = value;
  };
}

/// Applies the command line to `options`, then runs `program`; `usage` is printed for --help.
inline int run(int argc, char** argv, std::string_view usage,
               std::initializer_list<option> options, const std::function<int()>& program) {
  std::string_view name = argv[0];
  name.remove_prefix(name.rfind('/') + 1);  // npos + 1 == 0: no slash, nothing removed
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      std::fwrite(usage.data(), 1, usage.size(), stdout);
      return 0;
    }
  }
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view given = argv[i];
      const option* match = nullptr;
      for (const option& o : options)
        if (o.name == given) match = &o;
      if (!match) throw std::invalid_argument("unknown argument '" + std::string(given) + "'");
      if (i + 1 == argc) throw std::invalid_argument(std::string(given) + " needs a value");
      match->set(argv[++i]);
    }
  } catch (const std::invalid_argument& bad) {
    std::fprintf(stderr, "%.*s: %s (see --help)\n", static_cast<int>(name.size()), name.data(),
                 bad.what());
    return 2;
  }
  try {
    return program();
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(name.size()), name.data(),
                 failure.what());
    return 1;
  }
}

}  // namespace example
