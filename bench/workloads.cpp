#include "workloads.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include <tempfile/ops.hpp>
#include <tempfile/when_all.hpp>

namespace tempfile_bench {
namespace {

constexpr int tmpfile_flags = O_TMPFILE | O_RDWR | O_CLOEXEC;

}  // namespace

void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

tempfile::task<void> library_nop(tempfile::io_ring& ring) { co_await tempfile::ops::nop(ring); }

tempfile::task<void> library_nop_batch(tempfile::io_ring& ring, unsigned batch) {
  std::vector<tempfile::task<void>> nops;
  nops.reserve(batch);
  for (unsigned i = 0; i < batch; ++i) nops.push_back(library_nop(ring));
  co_await tempfile::when_all(std::move(nops));
}

tempfile::task<void> library_create_with_ops(tempfile::io_ring& ring, int dirfd, const char* dir,
                                             std::span<const std::byte> payload, bool fsync) {
  namespace ops = tempfile::ops;
  const int fd = co_await ops::openat(ring, dirfd, dir, tmpfile_flags, 0600);
  for (std::size_t done = 0; done < payload.size();)
    done += co_await ops::write(ring, fd, payload.subspan(done), done);
  if (fsync) co_await ops::fsync(ring, fd);
  co_await ops::close(ring, fd);
}

void sync_create_tmpfile(int dirfd, const char* dir, std::span<const std::byte> payload,
                         bool fsync) {
  const int fd = ::openat(dirfd, dir, tmpfile_flags, 0600);
  if (fd < 0) throw_errno("openat O_TMPFILE");
  sync_pwrite_all(fd, payload, 0);
  if (fsync && ::fsync(fd) != 0) throw_errno("fsync");
  if (::close(fd) != 0) throw_errno("close");
}

int sync_open_tmpfile(const char* dir) {
  const int fd = ::open(dir, tmpfile_flags, 0600);
  if (fd < 0) throw_errno("open O_TMPFILE");
  return fd;
}

void sync_pwrite_all(int fd, std::span<const std::byte> data, std::size_t offset) {
  for (std::size_t done = 0; done < data.size();) {
    const ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done,
                               static_cast<off_t>(offset + done));
    if (n < 0) throw_errno("pwrite");
    done += static_cast<std::size_t>(n);
  }
}

int open_directory(const char* dir) {
  const int fd = ::open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), dir);
  return fd;
}

}  // namespace tempfile_bench
