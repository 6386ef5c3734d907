#pragma once
// Where the server's bytes go: an upload's body until it is published, and stored files
// read back, all relative to one descriptor of the store directory (renamed or replaced
// under the server, the store stays the directory it opened). Implementations: the
// library's (spooled files on an io_ring driven by the io_context), a synchronous one
// (blocking write/fsync in the handler, --sync), Boost.Asio's own io_uring files
// (--storage asio-file), and --discard, which stores nothing and measures HTTP alone.

#include <fcntl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

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
class spool_budget;
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

/// How a stored file is opened: a symlink is not followed (ELOOP) and a FIFO does not block
/// the open; the caller serves regular files only.
constexpr int stored_file_flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;

/// The store directory and the I/O on it.
class storage {
 public:
  explicit storage(int store_dir) : store_dir_(store_dir) {}
  virtual ~storage() = default;
  virtual std::unique_ptr<upload> begin_upload() = 0;
  /// Opens stored file `name` with `stored_file_flags`; `std::system_error` ENOENT if there
  /// is none.
  virtual net::awaitable<tempfile::unique_fd> open(std::string name) = 0;
  /// Reads from `fd` at `offset`; 0 at end of file.
  virtual net::awaitable<std::size_t> read(int fd, std::span<std::byte> buffer,
                                           std::uint64_t offset) = 0;
  /// Whether the store holds `name` already (of any type): a PUT refused before its body.
  bool taken(const std::string& name) const;

 protected:
  /// The store as a path the kernel resolves through the store's descriptor.
  std::filesystem::path store_path() const;

  const int store_dir_;
};

/// Spooled temporary files charged to `memory` and ops on `ring`, which must be attached to
/// the io_context running the server.
std::unique_ptr<storage> make_ring_storage(tempfile::io_ring& ring, tempfile::spool_budget& memory,
                                           const config& settings, int store_dir);
/// Blocking system calls in the handlers; any number of threads may share it.
std::unique_ptr<storage> make_sync_storage(const config& settings, int store_dir);
/// boost::asio::stream_file on `context` (io_uring reads and writes).
std::unique_ptr<storage> make_asio_file_storage(net::io_context& context, const config& settings,
                                                int store_dir);
/// Stores nothing: what HTTP alone costs, for benchmarks.
std::unique_ptr<storage> make_discard_storage(int store_dir);

/// Opens the store directory (O_DIRECTORY), once for every storage of the server.
tempfile::unique_fd open_store(const std::filesystem::path& store);

}  // namespace upload_server
