#pragma once
// What the upload server is told on its command line.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace upload_server {

/// Where bodies go: the library's ring, blocking calls, Boost.Asio's io_uring files, nowhere.
enum class storage_kind { library, sync, asio_file, discard };

struct config {
  using milliseconds = std::chrono::milliseconds;
  unsigned short port = 8080;
  std::filesystem::path store;           // where uploads are published (required)
  std::size_t max_memory = 64 << 20;     // bytes all uploads together keep in memory
  std::uint64_t max_body = 64ull << 20;  // larger bodies get 413
  bool durable = false;                  // published files and names reach stable storage
  storage_kind storage = storage_kind::library;
  unsigned threads = 1;                  // shards: a thread, io_context and ring each
  std::size_t max_connections = 1024;    // beyond it, new connections wait in the backlog
  milliseconds header_timeout{10'000};   // request line and headers, from their first byte
  milliseconds idle_timeout{60'000};     // keep-alive: the next request's first byte
  milliseconds body_timeout{10'000};     // longest wait for body bytes; also the grace below
  std::uint64_t min_body_rate = 1024;    // bytes/s a body must average after its grace
  milliseconds write_timeout{30'000};    // longest wait for the client to take a response write
};

/// Parses the command line (see --help); throws std::invalid_argument naming the bad
/// argument.
config parse_command_line(int argc, char** argv);

/// The --help text.
extern const char usage[];

}  // namespace upload_server
