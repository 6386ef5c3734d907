#pragma once
// Hand-written liburing writing one stream the way the library's buffered file does: the
// io_uring ceiling that tempfile-bench's seqwrite rows hold the library against.

#include <liburing.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>

#include "interleave.hpp"

namespace tempfile_bench {

/// Write calls copied into buffers of `buffer_size` bytes; a full buffer is submitted at
/// once and written behind while the next fills, up to `behind` writes in flight (the
/// oldest is waited for when one more fills). The file is an O_TMPFILE opened through the
/// ring; the last bytes and the close are one linked pair.
class raw_stream_writer {
 public:
  raw_stream_writer(std::size_t buffer_size, unsigned behind, unsigned setup_flags);
  ~raw_stream_writer();
  raw_stream_writer(const raw_stream_writer&) = delete;
  raw_stream_writer& operator=(const raw_stream_writer&) = delete;

  /// Writes `bytes` bytes to a new file in `dir` in calls of `chunk.size()` bytes (the last
  /// may be shorter), each timed.
  void write(const std::filesystem::path& dir, std::size_t bytes, std::span<const std::byte> chunk,
             latency_sampler& latencies);

 private:
  void submit_write(int fd, unsigned buffer, std::size_t size, std::size_t offset,
                    bool then_close);
  void wait_oldest();

  io_uring ring_{};
  std::size_t buffer_size_;
  unsigned behind_;
  std::unique_ptr<std::byte[]> buffers_;  // behind_ + 1 buffers, one after another
  unsigned in_flight_ = 0;
};

}  // namespace tempfile_bench
