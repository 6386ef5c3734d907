#include "config.hpp"

#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#include "../command_line.hpp"

namespace upload_server {

const char usage[] =
    "usage: upload_server --store DIR [--port N] [--max-memory BYTES] [--max-body BYTES]\n"
    "         [--durable] [--storage library|sync|asio-file|discard] [--sync | --discard]\n"
    "         [--threads N] [--max-connections N] [--header-timeout MS] [--idle-timeout MS]\n"
    "         [--body-timeout MS] [--min-body-rate BYTES_PER_S] [--write-timeout MS]\n";

namespace {

/// A decimal integer in [low, high].
template <class Number>
std::function<void(std::string_view)> number_in(std::string_view name, Number& target,
                                                unsigned long long low, unsigned long long high) {
  return [=, &target](std::string_view text) {
    unsigned long long value = 0;
    example::number(value)(text);
    if (value < low || value > high)
      throw std::invalid_argument(std::string(name) + " must be " + std::to_string(low) +
                                  " to " + std::to_string(high) + ": '" + std::string(text) +
                                  "'");
    target = static_cast<Number>(value);
  };
}

std::function<void(std::string_view)> milliseconds_of(std::string_view name,
                                                      std::chrono::milliseconds& target) {
  return [=, &target](std::string_view text) {
    std::uint64_t value = 0;
    number_in(name, value, 1, 24ull * 3600 * 1000)(text);
    target = std::chrono::milliseconds(value);
  };
}

storage_kind storage_named(std::string_view name) {
  if (name == "library") return storage_kind::library;
  if (name == "sync") return storage_kind::sync;
  if (name == "asio-file") return storage_kind::asio_file;
  if (name == "discard") return storage_kind::discard;
  throw std::invalid_argument("--storage must be library, sync, asio-file or discard: '" +
                              std::string(name) + "'");
}

}  // namespace

config parse_command_line(int argc, char** argv) {
  config result;
  bool storage_given = false;
  const auto choose_storage = [&](storage_kind kind) {
    if (storage_given && result.storage != kind)
      throw std::invalid_argument("--storage, --sync and --discard name one storage");
    storage_given = true;
    result.storage = kind;
  };
  const example::option valued[] = {
      {"--port", number_in("--port", result.port, 0, 65535)},
      {"--store", [&](std::string_view value) { result.store = value; }},
      {"--max-memory", example::number(result.max_memory)},
      {"--max-body", example::number(result.max_body)},
      {"--storage", [&](std::string_view value) { choose_storage(storage_named(value)); }},
      {"--threads", number_in("--threads", result.threads, 1, 256)},
      {"--max-connections",
       number_in("--max-connections", result.max_connections, 1, 1'000'000)},
      {"--header-timeout", milliseconds_of("--header-timeout", result.header_timeout)},
      {"--idle-timeout", milliseconds_of("--idle-timeout", result.idle_timeout)},
      {"--body-timeout", milliseconds_of("--body-timeout", result.body_timeout)},
      {"--min-body-rate", number_in("--min-body-rate", result.min_body_rate, 1,
                                    std::numeric_limits<std::uint32_t>::max())},
      {"--write-timeout", milliseconds_of("--write-timeout", result.write_timeout)},
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view given = argv[i];
    if (given == "--durable") {
      result.durable = true;
      continue;
    }
    if (given == "--sync" || given == "--discard") {
      choose_storage(given == "--sync" ? storage_kind::sync : storage_kind::discard);
      continue;
    }
    const example::option* match = nullptr;
    for (const example::option& o : valued)
      if (o.name == given) match = &o;
    if (!match) throw std::invalid_argument("unknown argument '" + std::string(given) + "'");
    if (i + 1 == argc) throw std::invalid_argument(std::string(given) + " needs a value");
    match->set(argv[++i]);
  }
  if (result.store.empty()) throw std::invalid_argument("--store DIR is required");
  return result;
}

}  // namespace upload_server
