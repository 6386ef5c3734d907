#pragma once
// What the upload server is told on its command line.

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace upload_server {

struct config {
  unsigned short port = 8080;
  std::filesystem::path store;           // where uploads are published (required)
  std::size_t max_memory = 64 << 20;     // bytes all uploads together keep in memory
  std::uint64_t max_body = 64ull << 20;  // larger bodies get 413
  bool durable = false;                  // published files and names reach stable storage
  bool sync = false;                     // blocking write/fsync in the handlers, no ring
  bool discard = false;                  // bodies are hashed and dropped (benchmarks)
};

/// Parses `--port N --store DIR --max-memory BYTES --max-body BYTES --durable --sync --discard`;
/// throws std::invalid_argument naming the bad argument.
config parse_command_line(int argc, char** argv);

}  // namespace upload_server
