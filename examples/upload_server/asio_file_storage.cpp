// The --storage asio-file peer: what an Asio user stores uploads with when not using this
// library. Each body is written to a hidden file in the store through
// boost::asio::stream_file (io_uring writes, BOOST_ASIO_HAS_IO_URING); in Boost 1.81 the
// open, sync_data and close are synchronous calls on the context's thread. Publishing is
// by hand: renameat2(RENAME_NOREPLACE) to the name, then fsync of the directory with
// --durable. No memory spooling: every byte goes to the file.

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/random_access_file.hpp>
#include <boost/asio/stream_file.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <random>
#include <string>
#include <system_error>

#include "storage.hpp"

namespace upload_server {
namespace {

[[noreturn]] void fail(const char* call, const std::string& name) {
  throw std::system_error(errno, std::generic_category(), std::string(call) + " " + name);
}

/// A name no upload can take (stored names never start with a dot).
std::string hidden_name() {
  thread_local std::mt19937_64 random(std::random_device{}());
  char name[32];
  std::snprintf(name, sizeof name, ".upload-%016" PRIx64, static_cast<std::uint64_t>(random()));
  return name;
}

class asio_file_upload final : public upload {
 public:
  asio_file_upload(net::io_context& context, const config& settings, int store_dir)
      : settings_(settings), store_dir_(store_dir), file_(context), hidden_(hidden_name()) {
    const int fd = ::openat(store_dir_, hidden_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) fail("open", hidden_);
    file_.assign(fd);
  }
  ~asio_file_upload() override {
    if (!published_) ::unlinkat(store_dir_, hidden_.c_str(), 0);
  }

  net::awaitable<void> append(std::span<const std::byte> data) override {
    co_await net::async_write(file_, net::buffer(data.data(), data.size()), net::use_awaitable);
  }

  net::awaitable<void> publish(std::string name) override {
    if (settings_.durable) file_.sync_data();
    if (::renameat2(store_dir_, hidden_.c_str(), store_dir_, name.c_str(), RENAME_NOREPLACE) != 0)
      fail("renameat2", name);
    published_ = true;
    if (settings_.durable && ::fsync(store_dir_) != 0) fail("fsync", settings_.store.string());
    co_return;
  }

 private:
  const config& settings_;
  int store_dir_;
  net::stream_file file_;
  std::string hidden_;
  bool published_ = false;
};

class asio_file_storage final : public storage {
 public:
  asio_file_storage(net::io_context& context, const config& settings, int store_dir)
      : storage(store_dir), context_(context), settings_(settings), unopened_(context) {}

  std::unique_ptr<upload> begin_upload() override {
    return std::make_unique<asio_file_upload>(context_, settings_, store_dir_);
  }

  net::awaitable<tempfile::unique_fd> open(std::string name) override {
    tempfile::unique_fd fd(::openat(store_dir_, name.c_str(), stored_file_flags));
    if (!fd) fail("open", name);
    co_return fd;
  }

  net::awaitable<std::size_t> read(int fd, std::span<std::byte> buffer,
                                   std::uint64_t offset) override {
    net::random_access_file file(context_);
    file.assign(fd);
    // The caller owns the descriptor: handed back however the read ends.
    struct give_back {
      net::random_access_file& file;
      ~give_back() { file.release(); }
    } borrowed{file};
    auto [error, n] = co_await file.async_read_some_at(
        offset, net::buffer(buffer.data(), buffer.size()), net::as_tuple(net::use_awaitable));
    if (error == net::error::eof) co_return 0;
    if (error) throw std::system_error(error.value(), std::generic_category(), "read");
    co_return n;
  }

 private:
  net::io_context& context_;
  const config& settings_;
  // Asio makes its io_uring (and its descriptors) with the context's first file object:
  // made at startup, not by the first upload.
  net::stream_file unopened_;
};

}  // namespace

std::unique_ptr<storage> make_asio_file_storage(net::io_context& context, const config& settings,
                                                int store_dir) {
  return std::make_unique<asio_file_storage>(context, settings, store_dir);
}

}  // namespace upload_server
