#include "config.hpp"

#include <charconv>
#include <stdexcept>
#include <string>
#include <string_view>

namespace upload_server {
namespace {

template <class Number>
Number parse_number(std::string_view flag, std::string_view text) {
  Number value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size())
    throw std::invalid_argument(std::string(flag) + ": not a number: " + std::string(text));
  return value;
}

}  // namespace

config parse_command_line(int argc, char** argv) {
  config result;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--durable") {
      result.durable = true;
      continue;
    }
    if (flag == "--sync") {
      result.sync = true;
      continue;
    }
    if (i + 1 >= argc) throw std::invalid_argument(std::string(flag) + ": missing value or unknown");
    const std::string_view value = argv[++i];
    if (flag == "--port")
      result.port = parse_number<unsigned short>(flag, value);
    else if (flag == "--store")
      result.store = value;
    else if (flag == "--max-memory")
      result.max_memory = parse_number<std::size_t>(flag, value);
    else if (flag == "--max-body")
      result.max_body = parse_number<std::uint64_t>(flag, value);
    else
      throw std::invalid_argument(std::string(flag) + ": unknown option");
  }
  if (result.store.empty()) throw std::invalid_argument("--store DIR is required");
  return result;
}

}  // namespace upload_server
