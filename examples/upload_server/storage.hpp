#pragma once
// Where the server's bytes go: an upload's body until it is published, and stored files
// read back. Two implementations: the library's (spooled files on an io_ring driven by the
// io_context) and a synchronous one (blocking write/fsync in the handler, the --sync mode);
// a third, --discard, stores nothing and measures the HTTP side alone.

#include <boost/asio/awaitable.hpp>

#include <tempfile/unique_fd.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "config.hpp"

namespace tempfile {
class io_ring;
}

namespace upload_server {

namespace net = boost::asio;

/// One upload's body on its way to the store. Destroyed unpublished, it leaves nothing.
class upload {
 public:
  virtual ~upload() = default;
  virtual net::awaitable<void> append(std::span<const std::byte> data) = 0;
  /// Publishes everything appended as `name` in the store, atomically (and durably with
  /// --durable); `std::system_error` EEXIST if the name is taken.
  virtual net::awaitable<void> publish(std::string name) = 0;
};

/// The store directory and the I/O on it.
class storage {
 public:
  virtual ~storage() = default;
  virtual std::unique_ptr<upload> begin_upload() = 0;
  /// Opens stored file `name` for reading; `std::system_error` ENOENT if there is none.
  virtual net::awaitable<tempfile::unique_fd> open(std::string name) = 0;
  /// Reads from `fd` at `offset`; 0 at end of file.
  virtual net::awaitable<std::size_t> read(int fd, std::span<std::byte> buffer,
                                           std::uint64_t offset) = 0;
};

/// Spooled temporary files and ops on `ring`, which must be attached to the io_context.
std::unique_ptr<storage> make_ring_storage(tempfile::io_ring& ring, const config& settings);
/// Blocking system calls in the handlers.
std::unique_ptr<storage> make_sync_storage(const config& settings);
/// Stores nothing: what HTTP alone costs, for benchmarks.
std::unique_ptr<storage> make_discard_storage();

/// Opens the store directory (O_DIRECTORY): fsynced after a durable publish.
tempfile::unique_fd open_store(const std::filesystem::path& store);

}  // namespace upload_server
