#include "raw_stream.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <system_error>

namespace tempfile_bench {
namespace {

void check(int rc, const char* what) {
  if (rc < 0) throw std::system_error(-rc, std::generic_category(), what);
}

}  // namespace

raw_stream_writer::raw_stream_writer(std::size_t buffer_size, unsigned behind,
                                     unsigned setup_flags)
    : buffer_size_(buffer_size),
      behind_(behind),
      buffers_(new std::byte[buffer_size * (behind + 1)]) {
  check(io_uring_queue_init(8, &ring_, setup_flags), "io_uring_queue_init");
  // Faulted in once, as the library's recycled buffers are.
  std::memset(buffers_.get(), 0, buffer_size * (behind + 1));
}

raw_stream_writer::~raw_stream_writer() { io_uring_queue_exit(&ring_); }

void raw_stream_writer::submit_write(int fd, unsigned buffer, std::size_t size,
                                     std::size_t offset, bool then_close) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  io_uring_prep_write(sqe, fd, buffers_.get() + buffer * buffer_size_,
                      static_cast<unsigned>(size), offset);
  if (then_close) {
    sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
    io_uring_prep_close(io_uring_get_sqe(&ring_), fd);
  }
  check(io_uring_submit(&ring_), "io_uring_submit");  // written behind from now on
  ++in_flight_;
}

void raw_stream_writer::wait_oldest() {
  io_uring_cqe* cqe = nullptr;
  check(io_uring_wait_cqe(&ring_, &cqe), "io_uring_wait_cqe");
  const int res = cqe->res;
  io_uring_cqe_seen(&ring_, cqe);
  check(res, "raw liburing write");
  --in_flight_;
}

void raw_stream_writer::write(const std::filesystem::path& dir, std::size_t bytes,
                              std::span<const std::byte> chunk, latency_sampler& latencies) {
  io_uring_sqe* open = io_uring_get_sqe(&ring_);
  io_uring_prep_openat(open, AT_FDCWD, dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  io_uring_cqe* cqe = nullptr;
  check(io_uring_submit_and_wait(&ring_, 1), "io_uring_submit_and_wait");
  check(io_uring_peek_cqe(&ring_, &cqe), "io_uring_peek_cqe");
  const int fd = cqe->res;
  io_uring_cqe_seen(&ring_, cqe);
  check(fd, "raw liburing openat");

  unsigned buffer = 0;  // the one filling; the writes behind it use the others in turn
  std::size_t filled = 0, file_offset = 0;
  for (std::size_t done = 0; done < bytes;) {
    const auto started = latencies.start();
    const std::size_t n = std::min(chunk.size(), bytes - done);
    std::memcpy(buffers_.get() + buffer * buffer_size_ + filled, chunk.data(), n);
    filled += n;
    done += n;
    if (filled == buffer_size_) {
      if (in_flight_ == behind_) wait_oldest();
      submit_write(fd, buffer, filled, file_offset, false);
      file_offset += filled;
      filled = 0;
      buffer = (buffer + 1) % (behind_ + 1);
    }
    latencies.finish(started);
  }
  while (in_flight_ != 0) wait_oldest();
  if (filled != 0) {
    submit_write(fd, buffer, filled, file_offset, true);
  } else {
    io_uring_prep_close(io_uring_get_sqe(&ring_), fd);
    check(io_uring_submit(&ring_), "io_uring_submit");
    ++in_flight_;
  }
  wait_oldest();
}

}  // namespace tempfile_bench
