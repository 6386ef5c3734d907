#include <tempfile/detail/background_writes.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <utility>

#include <tempfile/ops.hpp>

namespace tempfile::detail {

task<void> write_fully(io_ring& ring, int fd, std::span<const std::byte> data,
                       std::int64_t offset) {
  while (!data.empty()) {
    const std::size_t n = co_await ops::write(ring, fd, data, static_cast<std::uint64_t>(offset));
    if (n == 0) throw std::system_error(EIO, std::generic_category(), "write made no progress");
    data = data.subspan(n);
    offset += static_cast<std::int64_t>(n);
  }
}

void pwrite_now(int fd, std::span<const std::byte> data, std::int64_t offset) noexcept {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
    if (n > 0) {
      data = data.subspan(static_cast<std::size_t>(n));
      offset += n;
    } else if (errno != EINTR) {
      return;
    }
  }
}

std::int64_t background_writes::furthest_end(std::int64_t end) const noexcept {
  for (std::size_t i = 0; i < count_; ++i) end = std::max(end, slots_[i].end());
  return end;
}

void background_writes::start(io_ring& ring, int fd, file_buffer& buffer, std::size_t len,
                              std::int64_t offset) {
  task<void> write = write_fully(ring, fd, buffer.first(len), offset);  // the bytes stay put
  pending_write& slot = slots_[count_];
  buffer.swap(slot.bytes);
  slot.offset = offset;
  slot.len = len;
  slot.write = std::move(write);
  ++count_;
  task_access::start(slot.write);
}

task<void> background_writes::settle_oldest(io_ring& ring, int fd) {
  pending_write& oldest = slots_.front();
  int error = 0;
  try {
    if (oldest.write) {
      const task<void> pending = std::move(oldest.write);
      co_await pending;
    } else {  // its background write failed earlier: the bytes are still here
      co_await write_fully(ring, fd, oldest.bytes.first(oldest.len), oldest.offset);
    }
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  if (error) {
    // The writes started after it keep their bytes and are retried after it: their own
    // outcome (often the same error) is moot, and must not fail a later retry.
    for (std::size_t i = 1; i < count_; ++i) {
      if (!slots_[i].write) continue;
      const task<void> pending = std::move(slots_[i].write);
      try {
        co_await pending;
      } catch (const std::system_error&) {
      }
    }
    throw std::system_error(error, std::generic_category());
  }
  oldest.len = 0;
  std::rotate(slots_.begin(), slots_.begin() + 1, slots_.end());  // the next is oldest now
  --count_;
}

void background_writes::cancel() noexcept {
  for (pending_write& slot : slots_) slot.write = {};
}

void background_writes::write_back_now(int fd) noexcept {
  cancel();
  for (std::size_t i = 0; i < count_; ++i)
    pwrite_now(fd, slots_[i].bytes.first(slots_[i].len), slots_[i].offset);
  for (pending_write& slot : slots_) slot.len = 0;
  count_ = 0;
}

void background_writes::swap(background_writes& other) noexcept {
  for (std::size_t i = 0; i < max_in_flight; ++i) {
    pending_write& mine = slots_[i];
    pending_write& theirs = other.slots_[i];
    mine.bytes.swap(theirs.bytes);
    std::swap(mine.offset, theirs.offset);
    std::swap(mine.len, theirs.len);
    std::swap(mine.write, theirs.write);
  }
  std::swap(count_, other.count_);
}

void background_writes::clear() noexcept {
  cancel();
  slots_ = {};
  count_ = 0;
}

}  // namespace tempfile::detail
