#include "config.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

#include "../command_line.hpp"

namespace upload_server {

config parse_command_line(int argc, char** argv) {
  config result;
  const example::option valued[] = {
      {"--port", example::number(result.port)},
      {"--store", [&](std::string_view value) { result.store = value; }},
      {"--max-memory", example::number(result.max_memory)},
      {"--max-body", example::number(result.max_body)},
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view given = argv[i];
    if (given == "--durable") {
      result.durable = true;
      continue;
    }
    if (given == "--sync") {
      result.sync = true;
      continue;
    }
    if (given == "--discard") {
      result.discard = true;
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
  if (result.sync && result.discard)
    throw std::invalid_argument("--sync and --discard exclude each other");
  return result;
}

}  // namespace upload_server
