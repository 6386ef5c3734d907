// The library's storage: each upload is a spooled_temporary_file (memory up to
// --max-memory, then an O_TMPFILE in the store), published with link.

#include <fcntl.h>
#include <sys/stat.h>

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
  co_return co_await tempfile::ops::openat(ring, dir, name.c_str(), O_RDONLY | O_CLOEXEC, 0);
}

task<std::size_t> read_at(io_ring& ring, int fd, std::span<std::byte> buffer,
                          std::uint64_t offset) {
  co_return co_await tempfile::ops::read(ring, fd, buffer, offset);
}

class ring_upload final : public upload {
 public:
  ring_upload(io_ring& ring, const config& settings, int store_fd)
      : ring_(ring),
        settings_(settings),
        store_fd_(store_fd),
        spool_(ring, tempfile::options().dir(settings.store).max_size(settings.max_memory)) {}

  net::awaitable<void> append(std::span<const std::byte> data) override {
    co_await async_run(ring_, spool_.write(data), net::use_awaitable);
  }

  net::awaitable<void> publish(std::string name) override {
    co_await async_run(ring_, link(settings_.store / name), net::use_awaitable);
  }

 private:
  task<void> link(std::filesystem::path target) {
    if (settings_.durable) {
      // The data reaches the disk before the name appears, the name before the answer.
      const int fd = co_await spool_.fileno();
      co_await spool_.flush();
      co_await tempfile::ops::fsync(ring_, fd);
      co_await spool_.link(target);
      co_await tempfile::ops::fsync(ring_, store_fd_);
    } else {
      co_await spool_.link(target);
    }
  }

  io_ring& ring_;
  const config& settings_;
  int store_fd_;
  tempfile::spooled_temporary_file spool_;
};

class ring_storage final : public storage {
 public:
  ring_storage(io_ring& ring, const config& settings)
      : ring_(ring), settings_(settings), store_(open_store(settings.store)) {}

  std::unique_ptr<upload> begin_upload() override {
    return std::make_unique<ring_upload>(ring_, settings_, store_.get());
  }

  net::awaitable<tempfile::unique_fd> open(std::string name) override {
    co_return tempfile::unique_fd(
        co_await async_run(ring_, open_at(ring_, store_.get(), name), net::use_awaitable));
  }

  net::awaitable<std::size_t> read(int fd, std::span<std::byte> buffer,
                                   std::uint64_t offset) override {
    co_return co_await async_run(ring_, read_at(ring_, fd, buffer, offset), net::use_awaitable);
  }

 private:
  io_ring& ring_;
  const config& settings_;
  tempfile::unique_fd store_;
};

}  // namespace

std::unique_ptr<storage> make_ring_storage(io_ring& ring, const config& settings) {
  return std::make_unique<ring_storage>(ring, settings);
}

}  // namespace upload_server
