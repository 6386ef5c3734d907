// The --discard storage: bodies are read and hashed by the server as always, then dropped.
// Nothing is stored, so a benchmark run in this mode measures what HTTP alone costs (Beast,
// Asio, the sockets, the hash); the other modes' CPU beyond it is their storage's.

#include <cerrno>
#include <system_error>

#include "storage.hpp"

namespace upload_server {
namespace {

class discarded_upload final : public upload {
 public:
  net::awaitable<void> append(std::span<const std::byte>) override { co_return; }
  net::awaitable<void> publish(std::string) override { co_return; }
};

[[noreturn]] tempfile::unique_fd nothing_stored(const std::string& name) {
  throw std::system_error(ENOENT, std::generic_category(), "open " + name + " (discarding)");
}

class discard_storage final : public storage {
 public:
  using storage::storage;
  std::unique_ptr<upload> begin_upload() override {
    return std::make_unique<discarded_upload>();
  }
  net::awaitable<tempfile::unique_fd> open(std::string name) override {
    co_return nothing_stored(name);
  }
  net::awaitable<std::size_t> read(int, std::span<std::byte>, std::uint64_t) override {
    co_return 0;
  }
};

}  // namespace

std::unique_ptr<storage> make_discard_storage(int store_dir) {
  return std::make_unique<discard_storage>(store_dir);
}

}  // namespace upload_server
