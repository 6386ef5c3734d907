// The library's storage: each upload is a spooled_temporary_file charged to one
// spool_budget of --max-memory bytes shared by every shard (past it, an O_TMPFILE in the
// store), published with link, durably with --durable.

#include <fcntl.h>

#include <boost/asio/use_awaitable.hpp>

#include <tempfile/asio.hpp>
#include <tempfile/tempfile.hpp>

#include "storage.hpp"

namespace upload_server {
namespace {

using tempfile::io_ring;
using tempfile::task;
using tempfile::asio::async_run;

task<int> open_at(io_ring& ring, int dir, std::string name) {
  co_return co_await tempfile::ops::openat(ring, dir, name.c_str(), stored_file_flags, 0);
}

task<std::size_t> read_at(io_ring& ring, int fd, std::span<std::byte> buffer,
                          std::uint64_t offset) {
  co_return co_await tempfile::ops::read(ring, fd, buffer, offset);
}

class ring_upload final : public upload {
 public:
  ring_upload(io_ring& ring, const config& settings, tempfile::spool_budget& memory,
              std::filesystem::path store)
      : ring_(ring),
        store_(std::move(store)),
        spool_(ring, tempfile::options()
                         .dir(store_)
                         .memory_budget(memory)
                         .buffering(rolled_over_buffer)
                         .durable(settings.durable)) {}

  net::awaitable<void> append(std::span<const std::byte> data) override {
    co_await async_run(ring_, spool_.write(data), net::use_awaitable);
  }

  net::awaitable<void> publish(std::string name) override {
    co_await async_run(ring_, spool_.link(store_ / name), net::use_awaitable);
  }


 private:
  /// A rolled-over upload's buffer lies outside the memory budget: kept to one chunk (and
  /// no write-behind) so that many uploads on disk at once pin little memory each.
  static constexpr long rolled_over_buffer = 64 << 10;

  io_ring& ring_;
  std::filesystem::path store_;
  tempfile::spooled_temporary_file spool_;
};

class ring_storage final : public storage {
 public:
  ring_storage(io_ring& ring, tempfile::spool_budget& memory, const config& settings,
               int store_dir)
      : storage(store_dir), ring_(ring), settings_(settings), memory_(memory) {}

  std::unique_ptr<upload> begin_upload() override {
    return std::make_unique<ring_upload>(ring_, settings_, memory_, store_path());
  }

  net::awaitable<tempfile::unique_fd> open(std::string name) override {
    co_return tempfile::unique_fd(
        co_await async_run(ring_, open_at(ring_, store_dir_, name), net::use_awaitable));
  }

  net::awaitable<std::size_t> read(int fd, std::span<std::byte> buffer,
                                   std::uint64_t offset) override {
    co_return co_await async_run(ring_, read_at(ring_, fd, buffer, offset), net::use_awaitable);
  }

 private:
  io_ring& ring_;
  const config& settings_;
  tempfile::spool_budget& memory_;
};

}  // namespace

std::unique_ptr<storage> make_ring_storage(io_ring& ring, tempfile::spool_budget& memory,
                                           const config& settings, int store_dir) {
  return std::make_unique<ring_storage>(ring, memory, settings, store_dir);
}

}  // namespace upload_server
