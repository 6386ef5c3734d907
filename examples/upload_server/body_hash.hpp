#pragma once
// A 64-bit hash of an upload's body, computed while it streams in: FNV-1a's recipe eight
// bytes at a time (not cryptographic; it identifies a body in the 201 answer).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace upload_server {

class body_hash {
 public:
  void update(std::span<const std::byte> data) noexcept {
    std::size_t at = 0;
    while (at < data.size() && pending_bytes_ != 0) take(data[at++]);
    for (; at + 8 <= data.size(); at += 8) {  // little-endian: the same order as take()
      std::memcpy(&pending_, data.data() + at, 8);
      pending_bytes_ = 8;
      mix();
    }
    while (at < data.size()) take(data[at++]);
  }
  /// The hash of everything passed to `update`, in order however it was split.
  std::uint64_t value() const noexcept {
    body_hash last = *this;
    last.pending_ ^= last.length_ << 56;
    last.mix();
    return last.state_;
  }

 private:
  void take(std::byte b) noexcept {
    pending_ |= static_cast<std::uint64_t>(b) << (8 * pending_bytes_);
    if (++pending_bytes_ == 8) mix();
  }
  void mix() noexcept {
    state_ = (state_ ^ pending_) * 0x100000001b3ull;
    state_ ^= state_ >> 29;
    length_ += pending_bytes_;
    pending_ = 0;
    pending_bytes_ = 0;
  }

  std::uint64_t state_ = 0xcbf29ce484222325ull;
  std::uint64_t pending_ = 0;
  std::uint64_t length_ = 0;
  unsigned pending_bytes_ = 0;
};

}  // namespace upload_server
