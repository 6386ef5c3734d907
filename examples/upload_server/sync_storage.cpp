// The --sync storage: what adopting a synchronous temp-file library looks like. The same
// spooling (uploads together hold up to --max-memory bytes in memory, an upload past that
// goes to an O_TMPFILE in the store) with blocking write, fsync and linkat calls made
// inside the handlers. One instance serves every shard.

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>
#include <vector>

#include "storage.hpp"

namespace upload_server {
namespace {

[[noreturn]] void fail(const char* call, const std::filesystem::path& path) {
  throw std::system_error(errno, std::generic_category(), std::string(call) + " " + path.string());
}

class sync_upload final : public upload {
 public:
  sync_upload(const config& settings, int store_fd, std::atomic<std::size_t>& memory_used)
      : settings_(settings), store_fd_(store_fd), memory_used_(memory_used) {}
  ~sync_upload() override { memory_used_ -= memory_.size(); }

  net::awaitable<void> append(std::span<const std::byte> data) override {
    if (!file_ && charge(data.size())) {
      memory_.insert(memory_.end(), data.begin(), data.end());
      co_return;
    }
    spill();
    write_all(data);
  }

  net::awaitable<void> publish(std::string name) override {
    spill();
    if (settings_.durable && ::fsync(file_.get()) != 0) fail("fsync", settings_.store / name);
    const std::string proc = "/proc/self/fd/" + std::to_string(file_.get());
    if (::linkat(AT_FDCWD, proc.c_str(), store_fd_, name.c_str(), AT_SYMLINK_FOLLOW) != 0)
      fail("linkat", settings_.store / name);
    if (settings_.durable && ::fsync(store_fd_) != 0) fail("fsync", settings_.store);
    co_return;
  }

 private:
  /// Adds `bytes` to the memory all uploads hold unless that passes --max-memory.
  bool charge(std::size_t bytes) {
    if (memory_used_.fetch_add(bytes) + bytes <= settings_.max_memory) return true;
    memory_used_ -= bytes;
    return false;
  }

  void spill() {
    if (file_) return;
    file_.reset(::openat(store_fd_, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!file_) fail("open(O_TMPFILE)", settings_.store);
    write_all(memory_);
    memory_used_ -= memory_.size();
    memory_ = {};
  }

  void write_all(std::span<const std::byte> data) {
    while (!data.empty()) {
      const ssize_t n = ::pwrite(file_.get(), data.data(), data.size(), static_cast<off_t>(size_));
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("pwrite", settings_.store);
      }
      size_ += static_cast<std::uint64_t>(n);
      data = data.subspan(static_cast<std::size_t>(n));
    }
  }

  const config& settings_;
  int store_fd_;
  std::atomic<std::size_t>& memory_used_;  // by all uploads together
  std::vector<std::byte> memory_;
  tempfile::unique_fd file_;
  std::uint64_t size_ = 0;
};

class sync_storage final : public storage {
 public:
  sync_storage(const config& settings, int store_dir)
      : storage(store_dir), settings_(settings) {}

  std::unique_ptr<upload> begin_upload() override {
    return std::make_unique<sync_upload>(settings_, store_dir_, memory_used_);
  }

  net::awaitable<tempfile::unique_fd> open(std::string name) override {
    tempfile::unique_fd fd(::openat(store_dir_, name.c_str(), stored_file_flags));
    if (!fd) fail("open", settings_.store / name);
    co_return fd;
  }

  net::awaitable<std::size_t> read(int fd, std::span<std::byte> buffer,
                                   std::uint64_t offset) override {
    for (;;) {
      const ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(offset));
      if (n >= 0) co_return static_cast<std::size_t>(n);
      if (errno != EINTR) fail("pread", settings_.store);
    }
  }

 private:
  const config& settings_;
  std::atomic<std::size_t> memory_used_{0};
};

}  // namespace

std::unique_ptr<storage> make_sync_storage(const config& settings, int store_dir) {
  return std::make_unique<sync_storage>(settings, store_dir);
}

}  // namespace upload_server
